"""The onnxruntime-genai script: the tokenizer's chat template and the app's generator loop."""

from __future__ import annotations

from pathlib import Path

from services.backends.base import messages_as_dicts
from services.backends.kv_reuse import RESERVE_TOKENS
from services.backends.onnx.options import search_options
from services.codegen.literals import json_literal, literal
from services.codegen.script import CUT_AT_STOP, MAIN, Script, assign, header
from services.models import embedded, local as local_models
from services.structured.guidance import grammar_schema
from services.types import ChatRequest

REQUIREMENTS = ("onnxruntime-genai",)


def model_folder(model: str) -> str:
    """The folder holding genai_config.json that the app loads (never built from here)."""
    if model == embedded.EMBEDDED_MODEL:
        return str(embedded.onnx_dir())
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    found = local_models.find("onnx", model)
    return str(found) if found is not None else model


def script(request: ChatRequest) -> Script:
    """Search options from the app's own search_options(); the KV length and stop cut as OnnxBackend does."""
    p = request.params
    out = [header("onnxruntime-genai", "chat_onnx.py", REQUIREMENTS)]
    out.append("import json\nfrom pathlib import Path\n\nimport onnxruntime_genai as og\n\n")
    out.append(assign("TARGET", str(request.target)))
    out.append(assign("MODEL_DIR", model_folder(request.target.model)))
    out.append(f"MESSAGES = {literal(messages_as_dicts(request.messages))}\n")
    out.append(assign("MAX_TOKENS", p.max_tokens))
    out.append(assign("SEARCH_OPTIONS", search_options(p)))
    out.append(assign("STOP", list(p.stop)))
    out.append("# the app sizes the KV buffer for this answer plus a few more turns\n")
    out.append(assign("RESERVE_TOKENS", RESERVE_TOKENS))
    fmt = p.response_format
    if fmt.is_json:
        out.append("# the answer is held to JSON by the runtime's own llguidance, as the app does\n")
        out.append(f"GUIDANCE = {json_literal(grammar_schema(fmt))}\n")
    out.append(CUT_AT_STOP)
    body = '''

def main() -> None:
    model = og.Model(MODEL_DIR)
    tokenizer = og.Tokenizer(model)
    config = json.loads((Path(MODEL_DIR) / "genai_config.json").read_text())
    context = int(config.get("model", {}).get("context_length", 4096))
    ids = tokenizer.encode(tokenizer.apply_chat_template(json.dumps(MESSAGES), add_generation_prompt=True))
    need = min(len(ids) + MAX_TOKENS, context)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=min(context, need + RESERVE_TOKENS), **SEARCH_OPTIONS)
    # guidance
    generator = og.Generator(model, params)
    generator.append_tokens(ids)
    decoder = tokenizer.create_stream()
    text, produced = "", 0
    while produced < need - len(ids) and not generator.is_done():
        generator.generate_next_token()
        produced += 1
        text, stopped = cut_at_stop(text + decoder.decode(generator.get_next_tokens()[0]), STOP)
        if stopped:
            break
    print(text)
'''
    # forced tokens stay off: get_next_tokens() returns one token per step and would drop them
    guided = '    params.set_guidance("json_schema", GUIDANCE, False)\n' if fmt.is_json else ""
    out.append(body.replace("    # guidance\n", guided))
    out.append(MAIN)
    return Script("chat_onnx.py", "".join(out), "ONNX Runtime GenAI", {}, REQUIREMENTS)
