"""JSON response formats as llama.cpp grammars (GBNF), checked before a sampler is built.

grammar= is used rather than llama-cpp-python's response_format: that one silently ignores
OpenAI's json_schema shape, silently falls back to any JSON when the converter fails, and hands a
grammar the C parser rejects (e.g. maxLength >= ~1500) to the sampler chain as NULL, which ends the
process. Here each of those becomes one sentence naming llama.cpp.
"""

from __future__ import annotations

import json
from functools import lru_cache

from services.errors import BadRequest
from services.types import ResponseFormat

RUNTIME = "llama.cpp"


@lru_cache(maxsize=32)
def gbnf_text(fmt: ResponseFormat) -> str:
    """GBNF for a JSON response format (any JSON object: the library's JSON grammar, root = object)."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if fmt.kind == "json_object":
        return JSON_GBNF
    try:
        return json_schema_to_gbnf(json.dumps(fmt.schema))
    except RecursionError:
        raise BadRequest(f"{RUNTIME} cannot use this schema: it nests too deeply for its grammar converter.") from None
    except (AssertionError, ValueError, KeyError, TypeError, IndexError) as err:
        # the converter's refusals are AssertionErrors such as "Unrecognized schema: {'not': ...}"
        why = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        if why.startswith("Fetching remote schemas"):
            # the converter's own wording names a command-line flag of llama.cpp's, not a way out here
            why = "it refers to another document by URL, which is never fetched; put that part inside the schema"
        elif isinstance(err, KeyError) or why.startswith("Unsupported ref"):
            # a bare KeyError reads as a quoted pointer: name what the converter could not follow
            ref = why.removeprefix("Unsupported ref ").strip("'\"")
            why = (f"its grammar converter cannot follow the reference {ref!r} (a $ref to the whole schema or "
                   "one inside a definition); write that part out, or use ONNX Runtime GenAI or transformers")
        raise BadRequest(f"{RUNTIME} cannot use this schema: {why}.") from None


def grammar_for(llm, fmt: ResponseFormat):
    """A LlamaGrammar for the format, or None for free text; BadRequest when llama.cpp cannot take it."""
    if not fmt.is_json:
        return None
    import llama_cpp
    from llama_cpp import LlamaGrammar

    text = gbnf_text(fmt)
    # parse once in C: a NULL sampler here is a refusal, where inside create_completion it is a crash
    # (llama.cpp prints the parse error and the grammar to stderr either way)
    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, text.encode("utf-8"), b"root")
    if not sampler:
        raise BadRequest(f"{RUNTIME} cannot use this schema: its grammar is too large (lower maxLength, "
                         "maxItems or minItems, or simplify the schema).")
    llama_cpp.llama_sampler_free(sampler)
    return LlamaGrammar.from_string(text, verbose=False)
