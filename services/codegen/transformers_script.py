"""The transformers script: the tokenizer's chat template, then generate() with the app's GenerationConfig."""

from __future__ import annotations

import os
from pathlib import Path

from services.backends.base import messages_as_dicts
from services.backends.transformers.backend import generation_values
from services.codegen.literals import json_literal, literal
from services.codegen.script import CUT_AT_STOP, MAIN, Script, assign, header
from services.models import embedded, local as local_models
from services.structured.guidance import grammar_schema
from services.types import ChatRequest

REQUIREMENTS = ("torch", "transformers")
# the app's llguidance mask (services/structured/guidance.py TokenMask) as a generate() logits processor
JSON_MASK = '''

class JsonMask(LogitsProcessor):
    """Allow only the tokens the JSON grammar allows next (batch 1; a fresh one per answer)."""

    def __init__(self, tokenizer, eos: int):
        self.tok = llguidance.hf.from_tokenizer(tokenizer, eos_token=eos)
        self.matcher = llguidance.LLMatcher(self.tok, llguidance.LLMatcher.grammar_from_json_schema(GUIDANCE),
                                            log_level=0)
        self.prompt_len = None

    def allowed(self, n_logits: int) -> torch.Tensor:
        out = np.zeros(n_logits, dtype=bool)
        if self.matcher.is_stopped():
            out[self.tok.eos_token] = True  # the JSON is complete: only the end may follow
            return torch.from_numpy(out)
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little")[: self.tok.vocab_size].astype(bool)
        n = min(len(allowed), n_logits)
        out[:n] = allowed[:n]
        return torch.from_numpy(out)

    def __call__(self, input_ids, scores):
        if self.prompt_len is None:
            self.prompt_len = int(input_ids.shape[1])
        elif not self.matcher.consume_token(int(input_ids[0, -1])):
            allowed = torch.zeros(scores.shape[-1], dtype=torch.bool)
            allowed[self.tok.eos_token] = True  # the grammar refused: end the answer here
            return scores.masked_fill(~allowed, float("-inf"))
        return scores.masked_fill(~self.allowed(scores.shape[-1]), float("-inf"))
'''


def model_source(model: str) -> str:
    """The folder (or cached hub id) the app loads for this model name (never built from here)."""
    if model == embedded.EMBEDDED_MODEL:
        return str(embedded.hf_dir())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    found = local_models.find("transformers", model)
    return str(found) if found is not None else model


def dtype_name() -> str:
    """float32 unless PHI_TRANSFORMERS_DTYPE says bfloat16 (the app's rule for models that fit)."""
    name = os.environ.get("PHI_TRANSFORMERS_DTYPE", "").strip().lower()
    return name if name in ("float32", "bfloat16") else "float32"


def script(request: ChatRequest) -> Script:
    """Same template, eos ids, GenerationConfig and stop cut as TransformersBackend.stream."""
    p = request.params
    out = [header("transformers", "chat_transformers.py", REQUIREMENTS)]
    fmt = p.response_format
    if fmt.is_json:
        out.append("import llguidance\nimport llguidance.hf\nimport numpy as np\n")
    out.append("import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig\n")
    out.append("from transformers import LogitsProcessor, LogitsProcessorList\n\n" if fmt.is_json else "\n")
    out.append(assign("TARGET", str(request.target)))
    out.append(assign("MODEL", model_source(request.target.model)))
    out.append(assign("DTYPE", dtype_name()))
    out.append(f"MESSAGES = {literal(messages_as_dicts(request.messages))}\n")
    out.append(assign("GENERATION", generation_values(p)))
    out.append(assign("STOP", list(p.stop)))
    out.append(assign("SEED", p.seed))
    if fmt.is_json:
        out.append("# the answer is held to JSON by llguidance, as the app does\n")
        out.append(f"GUIDANCE = {json_literal(grammar_schema(fmt))}\n")
        out.append(JSON_MASK)
    out.append(CUT_AT_STOP)
    body = '''

def eos_ids(model, tokenizer) -> list[int]:
    """The model's end tokens, plus <|end|> (Phi-3) and the tokenizer's own eos, as the app stops."""
    eos = model.generation_config.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    if "<|end|>" in tokenizer.get_vocab() and tokenizer.convert_tokens_to_ids("<|end|>") not in ids:
        ids.append(tokenizer.convert_tokens_to_ids("<|end|>"))
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def main() -> None:
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=getattr(torch, DTYPE))
    model.eval()
    ends = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ends[0]
    config = GenerationConfig(**GENERATION, eos_token_id=ends, pad_token_id=pad)
    input_ids = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, return_tensors="pt",
                                              return_dict=True)["input_ids"]
    if SEED is not None:
        torch.manual_seed(SEED)
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                             generation_config=config, tokenizer=tokenizer{mask})
    text = tokenizer.decode(out[0, input_ids.shape[-1]:], skip_special_tokens=True)
    print(cut_at_stop(text, STOP)[0])
'''
    mask = ",\n                             logits_processor=LogitsProcessorList([JsonMask(tokenizer, ends[0])])"
    out.append(body.replace("{mask}", mask if fmt.is_json else ""))
    out.append(MAIN)
    return Script("chat_transformers.py", "".join(out), "Hugging Face transformers", {}, REQUIREMENTS)
