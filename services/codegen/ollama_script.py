"""The ollama client script: /api/chat with the app's options and messages, images read from files."""

from __future__ import annotations

import base64

from services.backends import get_backend
from services.codegen.literals import Concat, attachments, expr, literal
from services.codegen.script import MAIN, READ_FILE, Script, address_assignment, assign, header
from services.media import vision
from services.structured.wire import ollama_format
from services.types import ChatRequest

REQUIREMENTS = ("ollama",)


def script(request: ChatRequest, *, inline_images: bool = False) -> Script:
    """client.chat(stream=True) with the same options the app sends (services/backends/ollama_backend.py)."""
    backend = get_backend("ollama")
    options = backend.options(request)
    names = attachments(request.messages)
    files: dict[str, bytes] = {}
    messages = []
    for m in request.messages:
        if not m.images:
            messages.append({"role": m.role, "content": m.content})
            continue
        calls = []
        for part in m.images:
            # the app sends the bytes; a string would be read by the client as a file path
            if inline_images:
                encoded = base64.b64encode(bytes(part.data)).decode("ascii")
                calls.append(Concat([("call", f"base64.b64decode({literal(encoded)})")]))
                continue
            files[names[id(part)]] = bytes(part.data)
            calls.append(Concat([("call", f"read_file({literal(names[id(part)])})")]))
        messages.append({"role": m.role, "content": vision.ollama_text(m), "images": calls})
    try:
        host = backend.host()
    except Exception:  # noqa: BLE001 - an unreadable setting just means the default address is shown
        host = "http://127.0.0.1:11434"
    notes = ("OLLAMA_HOST and OLLAMA_API_KEY are read from the environment when set.",)
    out = [header("the ollama client", "chat_ollama.py", REQUIREMENTS, notes)]
    out.append("import base64\nimport os\nfrom pathlib import Path\n\nimport ollama\n\n")
    out.append(assign("TARGET", str(request.target)))
    out.append(address_assignment("HOST", host, "OLLAMA_HOST"))
    out.append(assign("MODEL", request.target.model))
    out.append(assign("OPTIONS", options))
    out.append("# None: free text; \"json\": any JSON; a JSON schema: structured output\n")
    out.append(assign("FORMAT", ollama_format(request.params.response_format)))
    if files:
        out.append(READ_FILE)
        out.append("\n\n")
    out.append(f"MESSAGES = {expr(messages)}\n")
    out.append('''

def main() -> None:
    client = ollama.Client(host=HOST)
    text = ""
    for part in client.chat(model=MODEL, messages=MESSAGES, stream=True, options=OPTIONS,
                             format=FORMAT):
        if part.message and part.message.content:
            text += part.message.content
    print(text)
''')
    out.append(MAIN)
    return Script("chat_ollama.py", "".join(out), "Ollama", files, REQUIREMENTS)
