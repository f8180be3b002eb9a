"""The llama-cpp-python script: the GGUF's own chat template, then create_completion with the app's sampling."""

from __future__ import annotations

from services.backends import llamacpp_backend as llamacpp
from services.backends.base import messages_as_dicts
from services.codegen.literals import literal
from services.codegen.script import MAIN, Script, assign, header
from services.types import ChatRequest

REQUIREMENTS = ("llama-cpp-python",)
JSON_GRAMMAR = '''

def json_grammar():
    """llama.cpp's JSON grammar for any object, or the one converted from the schema."""
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if RESPONSE_FORMAT["kind"] == "json_object":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    return LlamaGrammar.from_string(json_schema_to_gbnf(json.dumps(RESPONSE_FORMAT["schema"])), verbose=False)
'''


def model_path(model: str) -> str:
    """The GGUF file the app loads for this model name."""
    try:
        return str(llamacpp.resolve_path(model))
    except Exception:  # noqa: BLE001 - a missing file still gets a script that names what to set
        return model


def script(request: ChatRequest) -> Script:
    """The same prompt tokens, sampling, stop strings and token budget as LlamaCppBackend.stream."""
    p = request.params
    sampling = llamacpp.sampling_kwargs(p)
    out = [header("llama-cpp-python", "chat_llamacpp.py", REQUIREMENTS)]
    fmt = p.response_format
    out.append("import json\n" if fmt.is_json else "")
    out.append("import random\n\nfrom llama_cpp import Llama\nfrom llama_cpp.llama_chat_format import Jinja2ChatFormatter\n\n")
    out.append(assign("TARGET", str(request.target)))
    out.append(assign("MODEL_PATH", model_path(request.target.model)))
    out.append(assign("N_CTX", llamacpp.n_ctx_setting()))
    out.append("# used when the GGUF carries no chat template of its own\n")
    out.append(assign("CHATML", llamacpp.CHATML))
    out.append(f"MESSAGES = {literal(messages_as_dicts(request.messages))}\n")
    out.append(assign("MAX_TOKENS", p.max_tokens))
    out.append(assign("SAMPLING", sampling))
    out.append("# no fixed seed: a fresh one per answer, as the app does\n" if p.seed is None else "")
    out.append(assign("SEED", p.seed))
    if fmt.is_json:
        out.append("# the answer is held to JSON by a grammar, as the app does (services/structured/gbnf.py)\n")
        out.append(assign("RESPONSE_FORMAT", fmt.to_dict()))
        out.append(JSON_GRAMMAR)
    body = '''

def main() -> None:
    llm = Llama(MODEL_PATH, n_ctx=N_CTX, verbose=False)

    def special(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    formatter = Jinja2ChatFormatter(template=llm.metadata.get("tokenizer.chat_template") or CHATML,
                                    eos_token=special(llm.token_eos()), bos_token=special(llm.token_bos()),
                                    stop_token_ids=[llm.token_eos()])
    result = formatter(messages=MESSAGES)
    tokens = llm.tokenize(result.prompt.encode("utf-8"),
                          add_bos=not getattr(result, "added_special", False), special=True)
    template_stops = result.stop if isinstance(result.stop, list) else ([result.stop] if result.stop else [])
    sampling = dict(SAMPLING)
    sampling["stop"] = sampling.get("stop", []) + [s for s in template_stops if s]
    text = ""
    for chunk in llm.create_completion(prompt=tokens, max_tokens=min(MAX_TOKENS, llm.n_ctx() - len(tokens)),
                                       seed=SEED if SEED is not None else random.randrange(2**31),
                                       stream=True, **sampling):
        text += chunk["choices"][0]["text"]
    print(text)
'''
    if fmt.is_json:
        body = body.replace("stream=True, **sampling)", "stream=True, grammar=json_grammar(), **sampling)")
    out.append(body)
    out.append(MAIN)
    return Script("chat_llamacpp.py", "".join(out), "llama.cpp (llama-cpp-python)", {}, REQUIREMENTS)
