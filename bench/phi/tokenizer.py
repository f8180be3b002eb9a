"""A Phi-3-shaped tokenizer: SentencePiece BPE of 32,000 pieces trained on generated text, the Phi-3 specials after it."""

from __future__ import annotations

import json
import random
from pathlib import Path

PIECES = 32000
VOCAB = 32064
# added_tokens.json of microsoft/Phi-3-mini-4k-instruct
SPECIALS = {"<|endoftext|>": 32000, "<|assistant|>": 32001, "<|placeholder1|>": 32002, "<|placeholder2|>": 32003,
            "<|placeholder3|>": 32004, "<|placeholder4|>": 32005, "<|system|>": 32006, "<|end|>": 32007,
            "<|placeholder5|>": 32008, "<|placeholder6|>": 32009, "<|user|>": 32010}
CHAT_TEMPLATE = ("{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n'}}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")


def corpus(seed: int, words: int = 45000, lines: int = 25000) -> str:
    """Zipf-distributed made-up words: enough distinct subwords for 32,000 BPE merges."""
    rng = random.Random(seed)
    onsets = [c for c in "bcdfghjklmnprstvwz"] + ["st", "tr", "pl", "sh", "ch", "gr", "br", "th", "qu", "sp"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea", "io", "y"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng"]
    lexicon = set()
    while len(lexicon) < words:
        lexicon.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                            for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    lexicon = sorted(lexicon)
    rng.shuffle(lexicon)
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(lexicon))]
    out = []
    for _ in range(lines):
        line = rng.choices(lexicon, weights, k=rng.randint(6, 24))
        line[0] = line[0].capitalize()
        out.append(" ".join(line) + rng.choice([".", ".", "?", "!", ",", ";"]) + f" {rng.randint(0, 9999)}")
    return "\n".join(out) + "\n"


def build(folder: Path, seed: int) -> None:
    """tokenizer.model (SentencePiece), tokenizer.json of 32,064 entries, and their configs, into folder."""
    import sentencepiece as spm
    from transformers import LlamaTokenizerFast

    folder = Path(folder)
    text = folder / "corpus.txt"
    text.write_text(corpus(seed))
    # Llama's layout, as Phi-3's tokenizer.model: <unk> <s> </s>, byte fallback, digits split
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(folder / "tokenizer"), vocab_size=PIECES, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        seed_sentencepiece_size=200000, input_sentence_size=0, num_threads=2, minloglevel=2)
    text.unlink()
    (folder / "tokenizer.vocab").unlink()
    # converted from tokenizer.model, as transformers does for a folder without a tokenizer.json
    tok = LlamaTokenizerFast.from_pretrained(str(folder), legacy=False, add_bos_token=False)
    assert len(tok) == PIECES, len(tok)
    tok.add_special_tokens({"additional_special_tokens": list(SPECIALS)})
    # the rest up to the embedding's 32,064 rows, so every id has a token
    tok.add_tokens([f"<|dummy_{i}|>" for i in range(VOCAB - len(tok))])
    assert len(tok) == VOCAB and tok.convert_tokens_to_ids("<|user|>") == SPECIALS["<|user|>"]
    tok.eos_token, tok.pad_token = "<|endoftext|>", "<|endoftext|>"
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(folder))
    (folder / "added_tokens.json").write_text(json.dumps(SPECIALS, indent=2))
    # also where older readers (onnxruntime-genai's tokenizer) look for the template, as Phi-3's own file has it
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
