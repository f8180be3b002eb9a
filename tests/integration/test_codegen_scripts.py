"""The generated scripts run: locally they give the app's greedy answer, for servers they send the app's request.

Local runtimes (onnxruntime-genai, llama-cpp-python, transformers) answer from the embedded model, in this
process through the services and in a subprocess through the script. Ollama and the OpenAI-compatible
providers are served by the loopback stand-ins in tests/standins/ (no Ollama or cloud endpoint can run
here): the script must send the very request body the app's backend sends.
"""

import os
import subprocess
import sys

import pytest

from services.backends.ollama_backend import OllamaBackend
from services.backends.openai_backend import OpenAICompatBackend
from services.chat import start_chat
from services.codegen import script_for
from services.streaming import Answer
from services.types import ChatRequest, GenerationParams, ImagePart, Message, Target
from tests.fixtures.media_files import plain_image
from tests.fixtures.questions import CAPITAL, SYSTEM
from tests.standins.ollama_ndjson import OllamaStandIn
from tests.standins.openai_sse import OpenAIStandIn, Reply

pytestmark = pytest.mark.integration

EMBEDDED = "smollm2-135m-instruct"
# a question whose greedy answer is the same on every CPU (tests/fixtures/questions.py)
MESSAGES = [Message("system", SYSTEM), Message("user", CAPITAL)]
# the app's defaults for local runtimes (penalty 1.1: transformers' generate() path) and plain greedy with a
# stop string (transformers' own greedy loop; the stop cut on every runtime)
PARAMS = {
    "default-penalty": GenerationParams(temperature=0, max_tokens=24),
    "plain-greedy-stop": GenerationParams(temperature=0, max_tokens=24, repetition_penalty=1.0, stop=("Paris",)),
}
KEY = "test-key-not-in-scripts"
CITY = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"]}
JSON_QUESTION = [MESSAGES[0], Message("user", "What is the capital of France? Answer as JSON with city and country.")]


def run_script(script, tmp_path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Write the script and its files into a folder and run it with this Python."""
    (tmp_path / script.filename).write_text(script.text, encoding="utf-8")
    for name, data in script.attachments.items():
        (tmp_path / name).write_bytes(data)
    out = subprocess.run([sys.executable, script.filename], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-2000:]
    return out


@pytest.mark.parametrize("params", PARAMS.values(), ids=PARAMS.keys())
@pytest.mark.parametrize("backend", ["onnx", "llamacpp", "transformers"])
def test_local_script_gives_the_apps_greedy_answer(backend, params, embedded_paths, tmp_path):
    answer = start_chat(f"{backend}:{EMBEDDED}", MESSAGES, params)
    text = answer.text()
    assert text.strip()
    out = run_script(script_for(answer.request), tmp_path)
    assert out.stdout == text + "\n"


@pytest.mark.parametrize("fmt", [{"kind": "json_schema", "schema": CITY}, {"kind": "json_object"}],
                         ids=["schema", "object"])
@pytest.mark.parametrize("backend", ["onnx", "llamacpp", "transformers"])
def test_local_script_gives_the_apps_json_answer(backend, fmt, embedded_paths, tmp_path):
    # each runtime's grammar (llama.cpp GBNF, the runtime's llguidance, an llguidance mask) in the script too
    params = GenerationParams(temperature=0, max_tokens=40, response_format=fmt)
    answer = start_chat(f"{backend}:{EMBEDDED}", JSON_QUESTION, params)
    text = answer.text()
    assert text.startswith("{")
    out = run_script(script_for(answer.request), tmp_path)
    assert out.stdout == text + "\n"


def image_request(target: str, **params) -> ChatRequest:
    image = ImagePart(plain_image(), "image/png", "red.png")
    messages = (Message("system", 'Say """what""" you {see}.'),
                Message("user", "Describe it.\nBriefly.", images=(image,)))
    p = GenerationParams(temperature=0, max_tokens=24, seed=11, stop=("END", "\n\n"),
                         response_format={"kind": "json_schema", "schema": CITY}, **params)
    return ChatRequest(Target.parse(target), messages, p)


@pytest.mark.parametrize("provider,key_env", [("github", "GITHUB_TOKEN"), ("azure", "AZURE_AI_API_KEY"),
                                              ("nim", "NVIDIA_API_KEY"), ("openai", "OPENAI_API_KEY")])
@pytest.mark.parametrize("with_image,inline", [(False, False), (True, False), (True, True)],
                         ids=["text", "image-file", "image-inline"])
def test_cloud_script_sends_the_apps_request(provider, key_env, with_image, inline, tmp_path, monkeypatch):
    for name in ("GITHUB_TOKEN", "AZURE_AI_API_KEY", "NVIDIA_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "AZURE_AI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    if with_image:
        request = image_request(f"{provider}:microsoft/phi-3.5-vision-instruct", top_k=5, repetition_penalty=1.2)
    else:
        request = ChatRequest(Target(provider, "microsoft/phi-3.5-mini-instruct"), tuple(MESSAGES),
                              GenerationParams(temperature=0, max_tokens=24, stop=("a", "b", "c", "d", "e")))
    with OpenAIStandIn(default=Reply.text("The capital of France is Paris.", usage=(9, 7))) as srv:
        app = Answer(OpenAICompatBackend(provider, base_url=srv.url, api_key=KEY), request).finish()
        script = script_for(request, inline_images=inline)
        assert KEY not in script.text
        assert bool(script.attachments) == (with_image and not inline)
        out = run_script(script, tmp_path, {"OPENAI_BASE_URL": srv.url, key_env: KEY})
        sent, replayed = srv.chat_requests
    assert sent.json and replayed.json == sent.json  # field for field, images included
    assert replayed.path.split("?")[1:] == sent.path.split("?")[1:]  # Azure's api-version
    assert out.stdout == app.text + "\n"


@pytest.mark.parametrize("inline", [False, True], ids=["image-file", "image-inline"])
def test_ollama_script_sends_the_apps_request(inline, tmp_path):
    request = image_request("ollama:phi3.5", top_k=7)
    with OllamaStandIn(models=("phi3.5:latest",), reply=("Paris", " is", " the", " capital", ".")) as srv:
        app = Answer(OllamaBackend(srv.root), request).finish()
        script = script_for(request, inline_images=inline)
        assert list(script.attachments) == ([] if inline else ["image_1.png"])
        out = run_script(script, tmp_path, {"OLLAMA_HOST": srv.root})
        sent, replayed = srv.chat_requests
    assert sent.json and replayed.json == sent.json  # options, messages and the image bytes
    assert out.stdout == app.text + "\n"
