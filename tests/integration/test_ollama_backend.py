"""Ollama backend against tests/standins/ollama_ndjson.py, a loopback stand-in of Ollama's NDJSON API."""

from __future__ import annotations

import base64
import time

import pytest

from services.backends.ollama_backend import OllamaBackend
from services.errors import BackendUnavailable, BadRequest, PlaygroundError
from services.streaming import Answer
from services.types import ChatRequest, GenerationParams, ImagePart, Message, Target
from tests.standins._loopback import free_port
from tests.standins.ollama_ndjson import OllamaStandIn

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("OLLAMA_HOST", "OLLAMA_API_KEY", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent.toml"))


@pytest.fixture
def srv():
    with OllamaStandIn(models=("phi3.5:latest", "llava-phi3:latest")) as s:
        yield s


def chat(model="phi3.5", messages=None, **params) -> ChatRequest:
    return ChatRequest(Target("ollama", model), tuple(messages or (Message("user", "Hi"),)),
                       GenerationParams(**params))


def test_streams_with_server_metrics_beside_ours(srv):
    s = Answer(OllamaBackend(srv.root), chat()).finish()
    assert s.text == "Hello from Ollama."
    assert s.finish_reason == "stop"
    assert (s.metrics.prompt_tokens, s.metrics.completion_tokens) == (12, 4)
    # eval_duration is nanoseconds on the wire: 250 ms for 4 tokens
    assert s.metrics.server["eval_s"] == pytest.approx(0.25)
    assert s.metrics.server["eval_tokens_per_s"] == pytest.approx(16.0)
    assert s.metrics.ttft_s is not None


def test_options_are_mapped(srv):
    Answer(OllamaBackend(srv.root), chat(max_tokens=2, top_k=7, repetition_penalty=1.3,
                                                 seed=5, stop=("END",), temperature=0.0)).finish()
    body = srv.chat_requests[0].json
    assert body["stream"] is True and body["model"] == "phi3.5"
    opts = body["options"]
    assert (opts["num_predict"], opts["top_k"], opts["repeat_penalty"], opts["seed"]) == (2, 7, 1.3, 5)
    assert opts["stop"] == ["END"] and opts["temperature"] == 0.0
    assert opts["num_ctx"] == 8192


def test_length_finish(srv):
    s = Answer(OllamaBackend(srv.root), chat(max_tokens=2)).finish()
    assert s.text == "Hello from" and s.finish_reason == "length"


def test_server_down_is_unavailable():
    with pytest.raises(BackendUnavailable) as info:
        Answer(OllamaBackend(f"http://127.0.0.1:{free_port()}"), chat()).text()
    assert "ollama serve" in info.value.user_message()


def test_unknown_model_says_how_to_pull(srv):
    with pytest.raises(BadRequest) as info:
        Answer(OllamaBackend(srv.root), chat("phi3:medium")).text()
    assert "ollama pull phi3:medium" in info.value.user_message()


def test_images_go_as_bytes_and_path_strings_are_never_read(srv, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE-CONTENT")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    # the prompt text is an existing path: it must travel as text, never be opened
    msg = Message("user", str(secret), images=(ImagePart(png, "image/png"),))
    Answer(OllamaBackend(srv.root), chat("llava-phi3", [msg])).finish()
    sent = srv.chat_requests[0].json["messages"][-1]
    assert sent["content"].endswith(str(secret))
    assert base64.b64decode(sent["images"][0]) == png
    # an "image" that is a path string is refused before anything is sent
    bad = Message("user", "what is this?", images=(ImagePart(str(secret), "image/png"),))  # type: ignore[arg-type]
    with pytest.raises(PlaygroundError):
        Answer(OllamaBackend(srv.root), chat("llava-phi3", [bad])).text()
    assert len(srv.chat_requests) == 1
    assert "TOP-SECRET-FILE-CONTENT" not in srv.wire_text()
    assert base64.b64encode(b"TOP-SECRET-FILE-CONTENT").decode() not in srv.wire_text()


def test_targets_list_pulled_models_and_explain_the_rest(srv):
    infos = {i.target: i for i in OllamaBackend(srv.root).list_targets()}
    assert infos["ollama:phi3.5"].available and infos["ollama:phi3.5"].family == "Phi-3.5-mini"
    assert infos["ollama:llava-phi3"].capabilities.images
    assert not infos["ollama:phi3"].available and "ollama pull phi3" in infos["ollama:phi3"].reason


def test_targets_when_server_down_are_listed_unavailable():
    infos = OllamaBackend(f"http://127.0.0.1:{free_port()}").list_targets()
    assert infos and not any(i.available for i in infos)
    assert all("Ollama is not running" in i.reason for i in infos)


def test_pull_reports_progress_then_model_is_listed(srv):
    b = OllamaBackend(srv.root)
    seen = []
    b.pull("phi3", lambda status, frac: seen.append((status, frac)))
    assert seen[0][0] == "pulling manifest" and seen[-1][0] == "success"
    assert any(f == pytest.approx(0.5) for _, f in seen)
    assert any(i.target == "ollama:phi3" and i.available for i in b.list_targets())


def test_abandoned_stream_closes_connection():
    with OllamaStandIn(reply=tuple(f" t{i}" for i in range(50)), token_delay=0.05) as srv:
        s = Answer(OllamaBackend(srv.root), chat())
        chunks = iter(s)
        next(chunks), next(chunks)
        s.close()
        deadline = time.monotonic() + 5
        while srv.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.open_connections == 0


def test_ollama_host_from_environment(srv, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", srv.root)
    assert Answer(OllamaBackend(), chat()).finish().text == "Hello from Ollama."


def test_error_line_mid_stream_keeps_the_partial_answer():
    from services.errors import IncompleteGeneration

    with OllamaStandIn(error_after=2) as srv:
        s = Answer(OllamaBackend(srv.root), chat())
        with pytest.raises(IncompleteGeneration) as info:
            s.text()
    assert info.value.partial_text == "Hello from"
    assert "terminated" in info.value.user_message()
