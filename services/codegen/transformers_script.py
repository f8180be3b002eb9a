"""The transformers script: the tokenizer's chat template, then generate() with the app's GenerationConfig."""

from __future__ import annotations

import os
from pathlib import Path

from services.backends.base import messages_as_dicts
from services.backends.transformers.backend import generation_values
from services.codegen.literals import literal
from services.codegen.script import CUT_AT_STOP, MAIN, Script, assign, header
from services.models import embedded
from services.types import ChatRequest

REQUIREMENTS = ("torch", "transformers")


def model_source(model: str) -> str:
    """The folder (or cached hub id) the app loads for this model name (never built from here)."""
    if model == embedded.EMBEDDED_MODEL:
        return str(embedded.hf_dir())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    from services.models import local as local_models

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
    out.append("import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig\n\n")
    out.append(assign("TARGET", str(request.target)))
    out.append(assign("MODEL", model_source(request.target.model)))
    out.append(assign("DTYPE", dtype_name()))
    out.append(f"MESSAGES = {literal(messages_as_dicts(request.messages))}\n")
    out.append(assign("GENERATION", generation_values(p)))
    out.append(assign("STOP", list(p.stop)))
    out.append(assign("SEED", p.seed))
    out.append(CUT_AT_STOP)
    out.append('''

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
                             generation_config=config, tokenizer=tokenizer)
    text = tokenizer.decode(out[0, input_ids.shape[-1]:], skip_special_tokens=True)
    print(cut_at_stop(text, STOP)[0])
''')
    out.append(MAIN)
    return Script("chat_transformers.py", "".join(out), "Hugging Face transformers", {}, REQUIREMENTS)
