"""Generated code never shows a secret: credentials inside addresses are read from the environment instead."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from services.codegen import RUNTIMES, script_for
from services.codegen.script import without_secrets
from services.types import ChatRequest, GenerationParams, ImagePart, Message, Target
from tests.conftest import ROOT

# every place an address can carry a credential, each secret distinct so a leak names its source
SECRETS = {
    "openai user": "openai-user-7Qm2", "openai password": "openai-pass-9Xk4", "openai query key": "openai-qkey-3Lp8",
    "azure query key": "azure-qkey-5Vn1", "ollama user": "ollama-user-2Hd6", "ollama password": "ollama-pass-8Rt3",
    "key": "sk-configured-key-0123456789",
}
ADDRESSES = {
    "OPENAI_BASE_URL": f"http://{SECRETS['openai user']}:{SECRETS['openai password']}@127.0.0.1:9/v1"
                       f"?api-key={SECRETS['openai query key']}&api-version=2024-05-01",
    "AZURE_AI_ENDPOINT": f"https://res.services.ai.azure.com/openai/v1?api-key={SECRETS['azure query key']}",
    "OLLAMA_HOST": f"http://{SECRETS['ollama user']}:{SECRETS['ollama password']}@127.0.0.1:11434",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def configured(monkeypatch):
    for name in ("GITHUB_TOKEN", "AZURE_AI_API_KEY", "NVIDIA_API_KEY", "OPENAI_API_KEY", "OLLAMA_API_KEY"):
        monkeypatch.setenv(name, SECRETS["key"])
    for name, address in ADDRESSES.items():
        monkeypatch.setenv(name, address)


def leaks(text: str) -> list[str]:
    return [where for where, secret in SECRETS.items() if secret in text]


@pytest.mark.parametrize("backend", sorted(RUNTIMES))
def test_no_generator_writes_a_credential_from_an_address(backend):
    images = (ImagePart(PNG, "image/png"),) if backend in ("ollama", "openai", "azure", "github", "nim") else ()
    request = ChatRequest(Target(backend, "smollm2-135m-instruct"), (Message("user", "hi", images=images),),
                          GenerationParams(temperature=0, max_tokens=8))
    for script in (script_for(request), script_for(request, inline_images=True)):
        compile(script.text, script.filename, "exec")
        assert leaks(script.text) == [], script.text
        # the download (a zip with the images beside the script) carries none either
        data = script.download_bytes()
        if script.attachments:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                data = b"".join(zf.read(n) for n in zf.namelist())
        assert leaks(data.decode("utf-8", "replace")) == []


@pytest.mark.parametrize("backend,env", [("openai", "OPENAI_BASE_URL"), ("azure", "OPENAI_BASE_URL"),
                                         ("ollama", "OLLAMA_HOST")])
def test_an_address_with_credentials_is_read_from_the_environment(backend, env):
    text = script_for(ChatRequest(Target(backend, "m"), (Message("user", "hi"),), GenerationParams())).text
    assert f"os.environ.get({env!r})" in text
    assert f"the configured address holds credentials: they are read from ${env}" in text
    # what is written is the address without them: the host, the path and the api-version only
    assert "127.0.0.1" in text or "res.services.ai.azure.com" in text


def test_without_secrets_keeps_the_address_and_drops_every_credential():
    assert without_secrets(ADDRESSES["OPENAI_BASE_URL"]) == "http://127.0.0.1:9/v1?api-version=2024-05-01"
    assert without_secrets(ADDRESSES["OLLAMA_HOST"]) == "http://127.0.0.1:11434"
    assert without_secrets("https://token@host/x?key=abc&Api-Version=1") == "https://host/x?Api-Version=1"
    assert without_secrets("http://[::1:bad") == ""


def test_cli_show_code_shows_no_credential(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PHI_PLAYGROUND_DATA": str(tmp_path), "HOME": str(tmp_path), **ADDRESSES,
           "OPENAI_API_KEY": SECRETS["key"]}
    for target in ("openai:some-model", "ollama:phi3"):
        out = subprocess.run([sys.executable, "-m", "services", "chat", "hi", "--target", target, "--show-code"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert leaks(out.stdout + out.stderr) == [], out.stdout
