"""The OpenAI SDK script for the cloud and OpenAI-compatible targets (GitHub Models, Azure, NIM, custom)."""

from __future__ import annotations

from services import providers
from services.backends.openai_backend import chat_kwargs
from services.codegen.literals import attachments, expr, literal, with_placeholders
from services.codegen.script import CUT_AT_STOP, MAIN, READ_FILE, Script, address_assignment, assign, header
from services.media import vision
from services.types import ChatRequest

REQUIREMENTS = ("openai",)
# shown when no address is configured for a provider that needs one
PLACEHOLDER_BASE = {"azure": "https://YOUR-RESOURCE.services.ai.azure.com/models",
                    "openai": "http://127.0.0.1:8000/v1"}


def base_and_query(provider: providers.Provider) -> tuple[str, dict]:
    """Where the app sends this provider's requests (no key is read), with Azure's api-version query."""
    address = provider.base_url
    if not address:
        try:
            address = providers.credential(provider).address
        except Exception:  # noqa: BLE001 - an unreadable setting just means the placeholder is shown
            address = None
    if not address:
        return PLACEHOLDER_BASE.get(provider.name, "http://127.0.0.1:8000/v1"), (
            {"api-version": providers.AZURE_API_VERSION} if provider.name == "azure" else {})
    if provider.name == "azure":
        return providers.azure_base(address)
    return address.rstrip("/"), dict(provider.default_query)


def script(request: ChatRequest, *, inline_images: bool = False) -> Script:
    """chat.completions.create with the app's exact arguments; the key is read from its environment variable."""
    provider = providers.PROVIDERS[request.target.backend]
    kw = chat_kwargs(request, provider)
    kw.pop("extra_headers", None)  # per-request header handling is the app's own (no key, no header)
    messages = kw.pop("messages")
    names = attachments(request.messages)
    files: dict[str, bytes] = {}
    uris: dict[str, str] = {}
    for m in request.messages:
        for part in m.images:
            name = names[id(part)]
            if inline_images:
                continue  # the data URIs stay in the messages, base64 and all
            files[name] = bytes(part.data)
            uris[vision.data_uri(part)] = f"data_uri({literal(name)}, {literal(part.mime)})"
    messages = with_placeholders(messages, uris)
    base, query = base_and_query(provider)
    stops = list(request.params.stop)
    notes = (f"The key is read from ${provider.key_env}; set OPENAI_BASE_URL to send the same request",
             "to another OpenAI-compatible server.")
    filename = f"chat_{request.target.backend}.py"
    out = [header(f"the OpenAI SDK ({provider.title})", filename, REQUIREMENTS, notes)]
    out.append("import base64\nimport os\nfrom pathlib import Path\n\nfrom openai import OpenAI\n\n")
    out.append(assign("TARGET", str(request.target)))
    out.append(address_assignment("BASE_URL", base, "OPENAI_BASE_URL"))
    out.append(assign("KEY_ENV", provider.key_env))
    out.append(assign("DEFAULT_QUERY", query))
    out.append("# every stop string the app uses: the API takes 4, the rest are cut here as the app does\n")
    out.append(assign("STOP", stops))
    if files:
        out.append(READ_FILE)
        out.append('''

def data_uri(name: str, mime: str) -> str:
    """An image next to this script as a data: URI, as the app sends it."""
    return f"data:{mime};base64,{base64.b64encode(read_file(name)).decode('ascii')}"
''')
        out.append("\n\n")
    out.append(f"MESSAGES = {expr(messages)}\n")
    out.append(f"ARGUMENTS = {literal(kw)}\n")
    out.append(CUT_AT_STOP)
    key_expr = "os.environ[KEY_ENV]" if provider.key_required else "os.environ.get(KEY_ENV) or 'none'"
    headers = "{'api-key': api_key}" if provider.auth == "api-key" else "{}"
    out.append(f'''

def main() -> None:
    api_key = {key_expr}
    client = OpenAI(base_url=BASE_URL, api_key=api_key, default_headers={headers},
                    default_query=DEFAULT_QUERY or None)
    stream = client.chat.completions.create(messages=MESSAGES, **ARGUMENTS)
    text = ""
    try:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                text, stopped = cut_at_stop(text + chunk.choices[0].delta.content, STOP)
                if stopped:
                    break
    finally:
        stream.close()
    print(text)
''')
    out.append(MAIN)
    return Script(filename, "".join(out), provider.title, files, REQUIREMENTS)
