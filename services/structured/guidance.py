"""llguidance, the grammar engine for transformers (ONNX Runtime GenAI carries the same one inside).

One JSON text per response format (grammar_schema), checked once (check_grammar), and a token mask
per step (TokenMask) computed with numpy: llguidance.torch's helper is torch.compile'd, which needs a
C compiler and seconds of warm-up on CPU.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import numpy as np

from services.errors import BadRequest
from services.types import ResponseFormat

# what "any JSON object" is to a JSON-schema grammar engine
ANY_OBJECT = {"type": "object"}
# no free whitespace between tokens: small models otherwise pad with newlines until max_tokens runs out
COMPACT = {"whitespace_flexible": False}
# keywords that already say which keys an object may hold beyond its properties
_OPEN_KEYS = ("additionalProperties", "patternProperties", "unevaluatedProperties")


def _closed(schema: dict) -> dict:
    """A copy where objects that list properties allow only those keys (as llama.cpp's converter does).

    Every answer of the copy is an answer of the original, so the constraint stays sound; small models
    given room for extra keys invent them until max_tokens cuts the JSON off."""
    out = copy.deepcopy(schema)
    stack = [out]  # bounded by the schema's part count (services.types.SCHEMA_MAX_NODES)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict) and not any(k in node for k in _OPEN_KEYS):
                node["additionalProperties"] = False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def grammar_schema(fmt: ResponseFormat) -> dict:
    """The JSON schema a grammar engine gets for a JSON response format (kind text: not asked)."""
    schema = ANY_OBJECT if fmt.kind == "json_object" else _closed(fmt.schema)
    return {**schema, "x-guidance": {**COMPACT, **(schema.get("x-guidance") or {}), "lenient": True}}


@lru_cache(maxsize=32)
def _compiled(schema_json: str) -> str:
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema_json)
    error = llguidance.LLMatcher.validate_grammar(grammar)
    if error and not error.startswith("WARNING"):
        raise ValueError(error)
    return grammar


def check_grammar(fmt: ResponseFormat, runtime: str) -> str:
    """llguidance grammar text for the format; BadRequest naming the runtime when it cannot be built."""
    try:
        return _compiled(json.dumps(grammar_schema(fmt)))
    except ValueError as err:
        why = str(err).splitlines()[0][:200]
        if "retriev" in why and "not present in a registry" in why:
            # llguidance's wording for a $ref to a URL: say what to do instead
            why = "it refers to another document by URL, which is never fetched; put that part inside the schema"
        raise BadRequest(f"{runtime} cannot use this schema: {why}.") from None


@lru_cache(maxsize=4)
def _tokenizer(tokenizer_json: str, eos: int | None):
    import llguidance

    return llguidance.LLTokenizer(tokenizer_json, eos_token=eos)


def ll_tokenizer(tokenizer_json: str, eos: int | None):
    """An llguidance tokenizer from tokenizer.json text (about 0.2 s; cached per model)."""
    return _tokenizer(tokenizer_json, eos)


class TokenMask:
    """Which next tokens the grammar allows, step by step, for one answer (the matcher is stateful)."""

    def __init__(self, tokenizer, grammar: str, runtime: str):
        import llguidance

        self.tokenizer = tokenizer
        self.matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        if self.matcher.is_error():
            raise BadRequest(f"{runtime} cannot use this schema: {self.matcher.get_error()[:200]}.")

    @property
    def done(self) -> bool:
        """True once the JSON is complete: only end-of-text may follow."""
        return self.matcher.is_stopped()

    def allowed(self, n_logits: int) -> np.ndarray:
        """Bool array [n_logits]: True where the grammar allows the token (rows past the vocabulary: False)."""
        out = np.zeros(n_logits, dtype=bool)
        if self.matcher.is_stopped():
            out[self.tokenizer.eos_token] = True
            return out
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        allowed = np.unpackbits(bits, bitorder="little")[: self.tokenizer.vocab_size].astype(bool)
        n = min(len(allowed), n_logits)
        out[:n] = allowed[:n]
        return out

    def consume(self, token: int) -> bool:
        """Feed the chosen token; False when the grammar refuses it (then stop)."""
        return bool(self.matcher.consume_token(int(token)))
