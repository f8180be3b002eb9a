"""OpenAI-compatible backend against the SSE stand-in: faults, retries, key scoping, no leaks.

The server here is tests/standins/openai_sse.py, a loopback stand-in (a real server cannot
produce 429s, 5xx or cuts on demand); the happy path against a real server is in
test_openai_llamacpp_server.py.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest

from services.backends.openai_backend import OpenAICompatBackend
from services.errors import (
    AuthFailed,
    BackendTimeout,
    BackendUnavailable,
    IncompleteGeneration,
    PlaygroundError,
    RateLimited,
)
from services.streaming import Answer, AnswerOutcome
from services.types import ChatRequest, GenerationParams, Message, Target
from tests.conftest import ROOT
from tests.standins._loopback import free_port
from tests.standins.ollama_ndjson import OllamaStandIn
from tests.standins.openai_sse import OpenAIStandIn, Reply

pytestmark = pytest.mark.integration

CANARY = "sk-CANARY-7f3a9c2e1b5d4f60a8e2"
KEY_ENVS = ("GITHUB_TOKEN", "NVIDIA_API_KEY", "AZURE_AI_API_KEY", "AZURE_AI_ENDPOINT",
            "OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No real keys or secrets.toml leak into these tests."""
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent-secrets.toml"))


@pytest.fixture
def srv():
    with OpenAIStandIn(models=("standin-phi-3.5-mini",)) as s:
        yield s


def backend(srv, **kw) -> OpenAICompatBackend:
    kw.setdefault("api_key", CANARY)
    return OpenAICompatBackend("openai", base_url=srv.url, **kw)


def request(model="standin-phi-3.5-mini", **params) -> ChatRequest:
    return ChatRequest(Target("openai", model), (Message("user", "Say hello."),), GenerationParams(**params))


def run(b, req=None) -> AnswerOutcome:
    """Read the answer to the end; a failure is raised."""
    answer = Answer(b, req or request())
    answer.text()
    return answer.outcome


def failure(b, req=None) -> PlaygroundError:
    with pytest.raises(PlaygroundError) as info:
        run(b, req)
    return info.value


def assert_no_canary(*texts):
    for t in texts:
        assert CANARY not in str(t)


def error_texts(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), exc.user_message() if isinstance(exc, PlaygroundError) else ""]
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
        out += [str(exc), repr(exc)]
    return out


def wait_closed(srv, limit=5.0) -> int:
    deadline = time.monotonic() + limit
    while srv.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    return srv.open_connections


def test_stream_with_usage_chunk_and_metrics(srv):
    s = run(backend(srv))
    assert s.text == "Hello from the stand-in."
    assert s.finish_reason == "stop"
    # the usage chunk has choices=[] and still gives the token counts
    assert (s.metrics.prompt_tokens, s.metrics.completion_tokens) == (11, 5)
    assert s.metrics.server["usage_completion_tokens"] == 5
    assert s.metrics.ttft_s is not None and s.metrics.total_s >= s.metrics.ttft_s
    body = srv.chat_requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert wait_closed(srv) == 0


def test_params_are_mapped(srv):
    run(backend(srv), request(temperature=0.0, top_p=0.5, max_tokens=7, seed=3, stop=("x",),
                              top_k=5, repetition_penalty=1.2))
    body = srv.chat_requests[0].json
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.0, 0.5, 7, 3)
    assert body["stop"] == ["x"] and body["top_k"] == 5 and body["repeat_penalty"] == 1.2


def test_401_is_auth_failed_without_key(srv, caplog):
    caplog.set_level(logging.DEBUG)
    srv.enqueue(Reply.error(401, "Bad credentials"))
    exc = failure(backend(srv))
    assert isinstance(exc, AuthFailed)
    assert "OPENAI_API_KEY" in exc.user_message()
    assert_no_canary(*error_texts(exc), caplog.text)
    assert len(srv.chat_requests) == 1


def test_429_short_retry_after_is_retried_exactly_once(srv):
    srv.enqueue(Reply.error(429, "Too many requests", headers={"Retry-After": "1"}))
    s = run(backend(srv))
    assert s.text == "Hello from the stand-in."
    assert len(srv.chat_requests) == 2


def test_second_short_429_is_not_retried_again(srv):
    srv.enqueue(*[Reply.error(429, "Too many requests", headers={"Retry-After": "1"})] * 2)
    exc = failure(backend(srv))
    assert isinstance(exc, RateLimited) and exc.retry_after == pytest.approx(1, abs=0.5)
    assert len(srv.chat_requests) == 2


def test_daily_quota_429_surfaces_at_once_with_reset_time(srv):
    srv.enqueue(Reply.error(429, "Rate limit of 150 per 86400s exceeded for UserByDay.",
                            headers={"Retry-After": "36000", "x-ratelimit-type": "UserByDay"}))
    started = time.monotonic()
    exc = failure(backend(srv))
    assert time.monotonic() - started < 5  # no retry storm, no sleeping on a 10-hour reset
    assert isinstance(exc, RateLimited)
    assert exc.retry_after == pytest.approx(36000, abs=5)
    assert "resets at" in exc.user_message() and "UTC" in exc.user_message()
    assert len(srv.chat_requests) == 1


def test_429_without_retry_after_is_not_retried(srv):
    srv.enqueue(Reply.error(429, "quota exceeded"))
    assert isinstance(failure(backend(srv)), RateLimited)
    assert len(srv.chat_requests) == 1


def test_500_500_then_success(srv):
    srv.enqueue(Reply.error(500, "boom"), Reply.error(500, "boom"))
    assert run(backend(srv)).text == "Hello from the stand-in."
    assert len(srv.chat_requests) == 3
    assert wait_closed(srv) == 0


def test_persistent_500_gives_up_and_leaves_no_connection(srv):
    srv.enqueue(*[Reply.error(503, "down")] * 3)
    exc = failure(backend(srv))
    assert isinstance(exc, BackendUnavailable) and "503" in exc.user_message()
    assert len(srv.chat_requests) == 3  # one try and two bounded retries
    assert wait_closed(srv) == 0


def test_slow_first_byte_is_a_timeout_within_budget(srv):
    srv.enqueue(Reply(first_byte_delay=6))
    started = time.monotonic()
    exc = failure(backend(srv, read_timeout_s=1))
    elapsed = time.monotonic() - started
    assert isinstance(exc, BackendTimeout)
    assert elapsed < 4, f"the 1 s read timeout took {elapsed:.1f} s to fire"
    assert "1 s" in exc.user_message()


def test_stream_cut_after_three_chunks_keeps_them(srv):
    srv.enqueue(Reply(chunks=("one", " two", " three", " four", " five"), cut_after=3))
    s = Answer(backend(srv), request())
    with pytest.raises(IncompleteGeneration) as info:
        s.text()
    assert info.value.partial_text == "one two three"
    assert s.outcome.text == "one two three" and s.outcome.finish_reason == "incomplete"
    assert wait_closed(srv) == 0


def test_error_event_mid_stream_is_incomplete(srv):
    srv.enqueue(Reply(chunks=("a", "b"), error_event={"error": {"message": "overloaded"}}))
    with pytest.raises(IncompleteGeneration) as info:
        run(backend(srv))
    assert info.value.partial_text == "ab"


def test_connection_refused_is_unavailable():
    b = OpenAICompatBackend("openai", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key=CANARY)
    exc = failure(b)
    assert isinstance(exc, BackendUnavailable) and "Cannot reach" in exc.user_message()
    assert_no_canary(*error_texts(exc))


def test_abandoned_stream_closes_its_connection(srv):
    srv.enqueue(Reply(chunks=tuple(f" w{i}" for i in range(40)), token_delay=0.05))
    s = Answer(backend(srv), request())
    chunks = iter(s)
    next(chunks), next(chunks)
    s.close()  # what a Streamlit rerun does
    assert s.outcome.finish_reason == "cancelled"
    assert wait_closed(srv) == 0


def test_custom_url_without_key_sends_no_authorization(srv, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    run(OpenAICompatBackend("openai"))
    headers = srv.chat_requests[0].headers
    assert "authorization" not in headers and "api-key" not in headers
    assert CANARY not in srv.wire_text()


def test_github_key_never_reaches_nim_custom_or_ollama(srv, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-other-key-123456")
    monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
    with OpenAIStandIn() as nim, OllamaStandIn() as ollama:
        run(OpenAICompatBackend("nim", base_url=nim.url), request())
        assert nim.chat_requests[0].headers["authorization"] == "Bearer nvapi-other-key-123456"
        run(OpenAICompatBackend("openai"))
        monkeypatch.setenv("OLLAMA_HOST", ollama.root)
        from services.backends.ollama_backend import OllamaBackend

        Answer(OllamaBackend(), ChatRequest(Target("ollama", "phi3.5"), (Message("user", "hi"),))).text()
        for server in (nim, srv, ollama):
            assert server.requests and CANARY not in server.wire_text()
    # and it does go to its own provider
    with OpenAIStandIn() as gh:
        run(OpenAICompatBackend("github", base_url=gh.url), request())
        assert gh.chat_requests[0].headers["authorization"] == f"Bearer {CANARY}"


def test_azure_sends_api_key_header_and_version(monkeypatch):
    with OpenAIStandIn() as az:
        monkeypatch.setenv("AZURE_AI_ENDPOINT", az.root)
        monkeypatch.setenv("AZURE_AI_API_KEY", "azure-key-0987654321")
        run(OpenAICompatBackend("azure"), request("Phi-3.5-mini-instruct"))
        req = az.chat_requests[0]
        assert req.path.startswith("/models/chat/completions?api-version=")
        assert req.headers["api-key"] == "azure-key-0987654321"


def test_github_discovers_phi_models_from_its_catalog(srv):
    catalog = [{"id": "microsoft/Phi-3.5-mini-instruct", "name": "Phi-3.5-mini instruct",
                "limits": {"max_input_tokens": 131072}},
               {"id": "openai/gpt-4.1", "name": "GPT-4.1"}]
    with OpenAIStandIn(catalog=catalog) as gh:
        b = OpenAICompatBackend("github", base_url=gh.url, api_key=CANARY,
                                catalog_url=gh.root + "/catalog/models")
        infos = {i.target: i for i in b.list_targets()}
    assert infos["github:microsoft/Phi-3.5-mini-instruct"].available
    assert infos["github:microsoft/Phi-3.5-mini-instruct"].family == "Phi-3.5-mini"
    assert "github:openai/gpt-4.1" not in infos
    # catalog entries the provider no longer lists stay visible, with the reason
    assert not infos["github:microsoft/phi-3-mini-4k-instruct"].available


def test_cli_output_never_shows_the_key(srv):
    srv.enqueue(Reply.error(401, "Incorrect API key provided"))
    env = {k: v for k, v in os.environ.items() if k not in KEY_ENVS}
    env.update(OPENAI_BASE_URL=srv.url, OPENAI_API_KEY=CANARY, OPENAI_LOG="debug",
               GITHUB_TOKEN=CANARY)
    out = subprocess.run([sys.executable, "-m", "services", "chat", "hi", "--target",
                          "openai:standin-phi-3.5-mini"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0
    assert "refused the key" in out.stderr
    assert_no_canary(out.stdout, out.stderr)
    assert len(srv.chat_requests) == 1


def test_keys_typed_for_a_session_are_used_only_inside_it(srv):
    from services import config
    from services.chat import chat_once

    with config.session({"OPENAI_BASE_URL": srv.url, "OPENAI_API_KEY": CANARY}):
        assert chat_once("openai:standin-phi-3.5-mini", "hi").text == "Hello from the stand-in."
    assert srv.chat_requests[-1].headers["authorization"] == f"Bearer {CANARY}"
    with pytest.raises(BackendUnavailable):  # outside the session nothing is configured
        chat_once("openai:standin-phi-3.5-mini", "hi")
