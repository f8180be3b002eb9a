"""JSON response formats for transformers: an llguidance token mask as a generate() logits processor."""

from __future__ import annotations

import threading

from services.errors import BadRequest
from services.structured.guidance import TokenMask, check_grammar

RUNTIME = "transformers"
_tokenizer_lock = threading.Lock()


def ll_tokenizer(loaded):
    """llguidance's view of the model's tokenizer (about 0.2 s to build: kept on the loaded model)."""
    with _tokenizer_lock:
        tok = getattr(loaded, "ll_tokenizer", None)
        if tok is None:
            import llguidance.hf

            try:
                tok = llguidance.hf.from_tokenizer(loaded.tokenizer, eos_token=loaded.eos_ids[0])
            except (ValueError, TypeError, AttributeError) as exc:  # a slow (non-Rust) tokenizer
                raise BadRequest(f"{RUNTIME} cannot constrain this model's answers to JSON: its tokenizer is "
                                 f"not one llguidance reads ({str(exc)[:120]}).") from None
            loaded.ll_tokenizer = tok
        return tok


def logits_processor(loaded, fmt):
    """A fresh processor for one generate() call (the grammar's progress is per answer); None for text."""
    if not fmt.is_json:
        return None
    import torch
    from transformers import LogitsProcessor

    grammar = check_grammar(fmt, RUNTIME)
    mask = TokenMask(ll_tokenizer(loaded), grammar, RUNTIME)

    class JsonMask(LogitsProcessor):
        """Batch 1: feed the token chosen last step, then allow only what the grammar allows."""

        def __init__(self):
            self.prompt_len: int | None = None

        def __call__(self, input_ids, scores):
            if self.prompt_len is None:
                self.prompt_len = int(input_ids.shape[1])
            elif not mask.consume(int(input_ids[0, -1])):
                allowed = torch.zeros(scores.shape[-1], dtype=torch.bool)
                allowed[mask.tokenizer.eos_token] = True  # the grammar refused: end the answer here
                return scores.masked_fill(~allowed.to(scores.device), float("-inf"))
            allowed = torch.from_numpy(mask.allowed(scores.shape[-1])).to(scores.device)
            return scores.masked_fill(~allowed, float("-inf"))

    return JsonMask()
