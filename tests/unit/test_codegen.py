"""Scripts for a request: they compile, carry the request's text exactly, name the key's variable, never the key."""

import ast
import base64
import io
import json
import subprocess
import sys
import zipfile

import pytest

from services.codegen import RUNTIMES, script_for
from services.codegen.literals import literal
from services.errors import BadRequest
from services.types import ChatRequest, GenerationParams, ImagePart, Message, Target
from tests.conftest import ROOT

HOSTILE = ('He said """hi""" and \'\'\'bye\'\'\' {x} {{y}} %s \\n\\" \n\t\r\x00\x1b[31m ${HOME} `id` '
           '# not a comment\n"); import os; os.system("echo pwned") #  \u2028 \ud800 é')
KEY = "sk-never-in-a-script-0123456789"
SCHEMA_PROVIDERS = ("github", "azure", "nim", "openai")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def request(backend: str, *, images=(), stop=('"""', "}\n{"), **params) -> ChatRequest:
    messages = (Message("system", HOSTILE), Message("user", "first"), Message("assistant", HOSTILE),
                Message("user", HOSTILE, images=images))
    p = GenerationParams(**{"temperature": 0, "max_tokens": 24, "stop": stop, "seed": 7, **params})
    return ChatRequest(Target(backend, "smollm2-135m-instruct"), messages, p)


def assigned(text: str, name: str):
    """The literal value a script assigns to NAME at top level."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned")


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for name in ("GITHUB_TOKEN", "AZURE_AI_API_KEY", "NVIDIA_API_KEY", "OPENAI_API_KEY", "OLLAMA_API_KEY"):
        monkeypatch.setenv(name, KEY)
    monkeypatch.setenv("AZURE_AI_ENDPOINT", "https://example-resource.services.ai.azure.com")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")


@pytest.mark.parametrize("backend", sorted(RUNTIMES))
def test_script_compiles_and_carries_hostile_text_exactly(backend):
    script = script_for(request(backend))
    compile(script.text, script.filename, "exec")
    messages = assigned(script.text, "MESSAGES")
    assert [m["content"] for m in messages] == [HOSTILE, "first", HOSTILE, HOSTILE]
    assert "pwned" not in "".join(line for line in script.text.splitlines() if not line.lstrip().startswith(("'", '"', "{")))
    assert script.filename == f"chat_{backend}.py"
    assert script.requirements and script.runtime


@pytest.mark.parametrize("backend", sorted(RUNTIMES))
def test_no_key_value_in_any_script(backend):
    assert KEY not in script_for(request(backend)).text


@pytest.mark.parametrize("backend,env", [("github", "GITHUB_TOKEN"), ("azure", "AZURE_AI_API_KEY"),
                                         ("nim", "NVIDIA_API_KEY"), ("openai", "OPENAI_API_KEY")])
def test_cloud_script_names_the_key_variable_and_the_base_url_override(backend, env):
    text = script_for(request(backend)).text
    assert assigned(text, "KEY_ENV") == env
    assert "os.environ.get('OPENAI_BASE_URL')" in text


def test_cloud_script_uses_the_providers_address():
    assert "'https://models.github.ai/inference'" in script_for(request("github")).text
    assert "'https://integrate.api.nvidia.com/v1'" in script_for(request("nim")).text
    azure = script_for(request("azure")).text
    assert "'https://example-resource.services.ai.azure.com/models'" in azure
    assert assigned(azure, "DEFAULT_QUERY") == {"api-version": "2024-05-01-preview"}


def test_openai_arguments_are_the_backends_own():
    from services.backends.openai_backend import chat_kwargs
    from services.providers import PROVIDERS

    req = request("openai", stop=("a", "b", "c", "d", "e"), top_k=5, repetition_penalty=1.3)
    args = assigned(script_for(req).text, "ARGUMENTS")
    expected = chat_kwargs(req, PROVIDERS["openai"])
    expected.pop("messages"), expected.pop("extra_headers")
    assert args == expected
    assert args["stop"] == ["a", "b", "c", "d"]  # the API's limit; the script cuts at the fifth itself
    assert assigned(script_for(req).text, "STOP") == ["a", "b", "c", "d", "e"]


def test_local_sampling_is_the_backends_own():
    from services.backends.llamacpp_backend import sampling_kwargs
    from services.backends.onnx.options import search_options
    from services.backends.transformers.backend import generation_values

    req = request("llamacpp", temperature=0.7, top_k=40, top_p=0.8)
    assert assigned(script_for(req).text, "SAMPLING") == sampling_kwargs(req.params)
    req = request("onnx", temperature=0.7, top_k=40)
    assert assigned(script_for(req).text, "SEARCH_OPTIONS") == search_options(req.params)
    req = request("transformers", temperature=0.7)
    assert assigned(script_for(req).text, "GENERATION") == generation_values(req.params)


def test_images_go_beside_the_script_and_download_as_a_zip():
    for backend in ("ollama", "github"):
        script = script_for(request(backend, images=(ImagePart(PNG, "image/png"), ImagePart(PNG + b"2", "image/jpeg"))))
        compile(script.text, script.filename, "exec")
        assert script.attachments == {"image_1.png": PNG, "image_2.jpg": PNG + b"2"}
        call = "read_file('image_1.png')" if backend == "ollama" else "data_uri('image_1.png', 'image/png')"
        assert call in script.text and base64.b64encode(PNG).decode()[:20] not in script.text
        assert script.download_name == f"chat_{backend}.zip" and script.mime == "application/zip"
        with zipfile.ZipFile(io.BytesIO(script.download_bytes())) as zf:
            assert sorted(zf.namelist()) == sorted([script.filename, "image_1.png", "image_2.jpg"])
            assert zf.read("image_2.jpg") == PNG + b"2"


def test_text_only_download_is_the_script():
    script = script_for(request("onnx"))
    assert script.download_bytes() == script.text.encode("utf-8") and script.download_name == "chat_onnx.py"


@pytest.mark.parametrize("backend", ["onnx", "transformers", "llamacpp"])
def test_local_image_requests_say_they_have_no_script(backend):
    with pytest.raises(BadRequest, match="images"):
        script_for(request(backend, images=(ImagePart(PNG),)))


def test_ocr_and_unknown_backends_are_refused_in_a_sentence():
    with pytest.raises(BadRequest, match="pipeline"):
        script_for(request("ocr"))
    with pytest.raises(BadRequest, match="no script"):
        script_for(request("nosuch"))


def test_literal_refuses_objects_and_round_trips_text():
    with pytest.raises(TypeError):
        literal({"a": object()})
    for text in (HOSTILE, "", "\\", "'", '"', "\n" * 3):
        assert ast.literal_eval(literal(text)) == text
    assert json.loads(ast.literal_eval(literal(json.dumps({"q": HOSTILE})))) == {"q": HOSTILE}


def test_cli_show_code_prints_the_script_and_runs_nothing(tmp_path):
    # a command line carries neither NUL nor lone surrogates
    prompt = HOSTILE.replace("\x00", "").replace("\ud800", "")
    env = {"PATH": "/usr/bin:/bin", "PHI_PLAYGROUND_DATA": str(tmp_path), "HOME": str(tmp_path),
           "GITHUB_TOKEN": KEY}
    out = subprocess.run([sys.executable, "-m", "services", "chat", prompt, "--target",
                          "github:microsoft/phi-3.5-mini-instruct", "--temperature", "0", "--stop", "}", "--show-code"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    compile(out.stdout, "chat_github.py", "exec")
    assert assigned(out.stdout, "MESSAGES")[-1]["content"] == prompt
    assert assigned(out.stdout, "STOP") == ["}"]
    assert KEY not in out.stdout
    listing = subprocess.run([sys.executable, "-m", "services", "conversations", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == {"conversations": []}  # nothing was stored


CITY = {"type": "object", "title": 'City """{x}', "properties": {"city": {"type": "string", "description": HOSTILE}},
        "required": ["city"]}


@pytest.mark.parametrize("backend", sorted(RUNTIMES))
@pytest.mark.parametrize("fmt", [{"kind": "json_schema", "schema": CITY}, {"kind": "json_object"}],
                         ids=["schema", "object"])
def test_response_format_goes_into_every_script(backend, fmt):
    from services.structured.guidance import grammar_schema
    from services.structured.wire import ollama_format, openai_response_format

    req = request(backend, response_format=fmt)
    script = script_for(req)
    compile(script.text, script.filename, "exec")
    rf = req.params.response_format
    if backend in ("onnx", "transformers"):
        assert json.loads(assigned(script.text, "GUIDANCE")) == grammar_schema(rf)
    elif backend == "llamacpp":
        assert assigned(script.text, "RESPONSE_FORMAT") == rf.to_dict() and "grammar=json_grammar()" in script.text
    elif backend == "ollama":
        assert assigned(script.text, "FORMAT") == ollama_format(rf)
    else:
        assert assigned(script.text, "ARGUMENTS")["response_format"] == openai_response_format(rf)


@pytest.mark.parametrize("backend", sorted(RUNTIMES))
def test_free_text_scripts_carry_no_grammar(backend):
    text = script_for(request(backend)).text
    assert "GUIDANCE" not in text and "json_grammar" not in text and "response_format" not in text


def test_inline_images_make_one_file():
    for backend in ("ollama", "github"):
        script = script_for(request(backend, images=(ImagePart(PNG, "image/png"),)), inline_images=True)
        compile(script.text, script.filename, "exec")
        assert script.attachments == {} and script.download_name == script.filename
        assert base64.b64encode(PNG).decode() in script.text


def test_cli_vision_show_code_puts_the_image_in_the_script(tmp_path):
    image = tmp_path / "red.png"
    from tests.fixtures.media_files import plain_image

    image.write_bytes(plain_image())
    env = {"PATH": "/usr/bin:/bin", "PHI_PLAYGROUND_DATA": str(tmp_path), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "services", "vision", 'What """colour""" {is} it?', "--image", str(image),
                          "--target", "ollama:llava-phi3", "--temperature", "0", "--show-code"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    compile(out.stdout, "chat_ollama.py", "exec")
    assert "base64.b64decode(" in out.stdout and "read_file(" not in out.stdout
    ocr = subprocess.run([sys.executable, "-m", "services", "vision", "q", "--image", str(image), "--target",
                          "ocr:smollm2-135m-instruct", "--show-code"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert ocr.returncode != 0 and "no script" in ocr.stderr and not ocr.stdout


def test_the_same_request_is_offered_for_each_runtime_of_its_model():
    """The listed targets (as the picker has them): the embedded model on three local runtimes and OCR,
    Phi-3.5-mini on Ollama and two clouds (two GitHub entries of the family: one script per runtime)."""
    from services.types import TargetInfo
    from services.codegen import script_targets
    from services.targets import list_targets

    infos = list_targets()
    own = ChatRequest(Target.parse("onnx:smollm2-135m-instruct"), (Message("user", "hi"),), GenerationParams())
    assert [str(t) for t in script_targets(own, infos)] == [
        "onnx:smollm2-135m-instruct", "transformers:smollm2-135m-instruct", "llamacpp:smollm2-135m-instruct"]
    phi = [TargetInfo("ollama:phi3.5", False, family="Phi-3.5-mini"),
           TargetInfo("github:microsoft/phi-3.5-mini-instruct", False, family="Phi-3.5-mini"),
           TargetInfo("github:microsoft/phi-3.5-mini-instruct-copy", False, family="Phi-3.5-mini"),
           TargetInfo("nim:microsoft/phi-3.5-mini-instruct", False, family="Phi-3.5-mini"),
           TargetInfo("ocr:phi", True, family="Phi-3.5-mini"),
           TargetInfo("github:microsoft/phi-3-mini-4k-instruct", False, family="Phi-3-mini")]
    asked = ChatRequest(Target.parse("nim:microsoft/phi-3.5-mini-instruct"), own.messages, own.params)
    assert [str(t) for t in script_targets(asked, phi)] == [
        "nim:microsoft/phi-3.5-mini-instruct", "ollama:phi3.5", "github:microsoft/phi-3.5-mini-instruct"]
    # a target not in the list (a custom model just removed): its own script only
    alone = ChatRequest(Target.parse("openai:my-model"), own.messages, own.params)
    assert script_targets(alone, phi) == [alone.target]
