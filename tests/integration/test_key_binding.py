"""A key travels only with its own address, and what one session does stays in that session.

Against the loopback stand-ins (tests/standins/: OpenAI SSE, Ollama NDJSON, and a server that
redirects to a recorder), through the same services the pages call. The llama.cpp check uses the
embedded model.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import config, provider_status, scope
from services.backends import get_backend
from services.backends.ollama_backend import OllamaBackend
from services.backends.openai_backend import OpenAICompatBackend
from services.chat import chat_once, start_chat
from services.errors import AuthFailed, BackendUnavailable, BadRequest, PlaygroundError
from services.types import GenerationParams, Message
from tests.conftest import ROOT
from tests.standins._loopback import free_port
from tests.standins.ollama_ndjson import OllamaStandIn
from tests.standins.openai_sse import OpenAIStandIn, Reply
from tests.standins.redirect import Recorder, Redirector

pytestmark = pytest.mark.integration

# one canary per configured key; none may reach an address the owner did not configure
CANARIES = {
    "GITHUB_TOKEN": "ghp_CANARYgithub0123456789",
    "NVIDIA_API_KEY": "nvapi-CANARYnim0123456789",
    "AZURE_AI_API_KEY": "CANARYazure0123456789",
    "OPENAI_API_KEY": "sk-CANARYopenai0123456789",
    "OLLAMA_API_KEY": "CANARYollama0123456789",
}
TYPED_KEY = "sk-typed-in-this-session-42"
SETTINGS = (*CANARIES, "OPENAI_BASE_URL", "AZURE_AI_ENDPOINT", "OLLAMA_HOST", "AZURE_AI_DEPLOYMENTS")


@pytest.fixture(autouse=True)
def configured(monkeypatch, tmp_path):
    """Every provider's key configured in the environment, as an owner's machine would have it."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent-secrets.toml"))
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    # the configured addresses: nothing listens there (no test may need them to answer)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("AZURE_AI_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{free_port()}")


def no_canary(server) -> None:
    wire = server.wire_text()
    found = [name for name, value in CANARIES.items() if value in wire]
    assert not found, f"{found} reached {server.root}"


def no_key_headers(server) -> None:
    assert server.requests
    for r in server.requests:
        assert "authorization" not in r.headers and "api-key" not in r.headers, r.headers
    no_canary(server)


# ---------- a typed address with a configured key in the environment ----------

def test_typed_openai_address_gets_no_configured_key():
    with OpenAIStandIn(models=("typed-model",)) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            assert chat_once("openai:typed-model", "hi").text == "Hello from the stand-in."
            # the model list and the Models page's test connection go there the same way
            assert [t.target for t in OpenAICompatBackend("openai").list_targets()] == ["openai:typed-model"]
            assert provider_status.status("openai", check=True).reachable
        no_key_headers(srv)
        with config.session({"OPENAI_BASE_URL": srv.url, "OPENAI_API_KEY": TYPED_KEY}):
            chat_once("openai:typed-model", "hi")
        assert srv.chat_requests[-1].headers["authorization"] == f"Bearer {TYPED_KEY}"
        no_canary(srv)


def test_typed_address_asking_for_a_key_says_to_type_one():
    with OpenAIStandIn() as srv:
        srv.enqueue(Reply.error(401, "key required"))
        with config.session({"OPENAI_BASE_URL": srv.url}), pytest.raises(AuthFailed) as info:
            chat_once("openai:standin-model", "hi")
        assert "typed for this session" in info.value.user_message()
        assert "OPENAI_API_KEY" in info.value.user_message()
        no_key_headers(srv)


def test_typed_azure_endpoint_needs_its_own_key():
    with OpenAIStandIn() as srv:
        with config.session({"AZURE_AI_ENDPOINT": srv.root}):
            with pytest.raises(BackendUnavailable) as info:
                chat_once("azure:Phi-3.5-mini-instruct", "hi")
            assert "AZURE_AI_API_KEY" in info.value.user_message()
        assert srv.requests == []  # nothing was sent, with or without a key
        with config.session({"AZURE_AI_ENDPOINT": srv.root, "AZURE_AI_API_KEY": TYPED_KEY}):
            chat_once("azure:Phi-3.5-mini-instruct", "hi")
        assert srv.chat_requests[0].headers["api-key"] == TYPED_KEY
        no_canary(srv)


def test_typed_ollama_host_gets_no_ollama_api_key(monkeypatch):
    with OllamaStandIn() as own, OllamaStandIn() as typed:
        # the configured host does get the configured key (that is what it is for)
        monkeypatch.setenv("OLLAMA_HOST", own.root)
        chat_once("ollama:phi3.5", "hi")
        assert own.chat_requests[0].headers["authorization"] == f"Bearer {CANARIES['OLLAMA_API_KEY']}"
        with config.session({"OLLAMA_HOST": typed.root}):
            assert chat_once("ollama:phi3.5", "hi").text == "Hello from Ollama."
            get_backend("ollama").installed(fresh=True)
        no_key_headers(typed)
        with config.session({"OLLAMA_HOST": typed.root, "OLLAMA_API_KEY": TYPED_KEY}):
            chat_once("ollama:phi3.5", "hi")
        assert typed.chat_requests[-1].headers["authorization"] == f"Bearer {TYPED_KEY}"


# ---------- redirects ----------

def test_azure_key_does_not_follow_a_redirect(monkeypatch):
    with Recorder() as elsewhere, Redirector(elsewhere.root) as azure:
        monkeypatch.setenv("AZURE_AI_ENDPOINT", azure.root)
        with pytest.raises(BadRequest) as info:
            chat_once("azure:Phi-3.5-mini-instruct", "hi")
        assert "redirect" in info.value.user_message() and "307" in info.value.user_message()
        assert azure.requests[0].headers["api-key"] == CANARIES["AZURE_AI_API_KEY"]
        # not followed: neither the key nor the prompt went on
        assert elsewhere.requests == []


def test_redirects_are_not_followed_by_discovery_or_ollama(monkeypatch):
    with Recorder() as elsewhere, Redirector(elsewhere.root, status=302) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.root + "/v1")
        monkeypatch.setenv("OLLAMA_HOST", srv.root)
        with pytest.raises(PlaygroundError) as info:
            OpenAICompatBackend("openai").discover(fresh=True)
        assert "redirect" in info.value.user_message()
        with pytest.raises(BadRequest) as info:
            chat_once("ollama:phi3.5", "hi")
        assert "redirect" in info.value.user_message()
        assert len(srv.requests) == 2 and elsewhere.requests == []


def test_key_headers_stay_home_even_if_redirects_were_followed():
    """The second layer: with redirects forced on, the request hook still drops the key headers."""
    import openai

    from services.credentials import Credential, http_options

    with Recorder() as elsewhere, Redirector(elsewhere.root) as azure:
        cred = Credential("azure", azure.root, CANARIES["AZURE_AI_API_KEY"])
        key = CANARIES["AZURE_AI_API_KEY"]
        with openai.DefaultHttpxClient(**{**http_options(cred), "follow_redirects": True}) as client:
            client.post(azure.root + "/models/chat/completions", json={"messages": []},
                        headers={"api-key": key, "Authorization": f"Bearer {key}"})
        assert azure.requests[0].headers["api-key"] == key
        assert len(elsewhere.requests) == 1
        no_key_headers(elsewhere)


# ---------- credentials in addresses are never shown ----------

def test_credentials_in_a_configured_url_are_masked_in_status_errors_and_cli():
    secret_pw, secret_q = "pw-SECRETinURL-77", "q-SECRETinQUERY-88"
    with OpenAIStandIn() as srv:
        # a server whose error echoes the credentials it was sent
        srv.enqueue(Reply.error(400, f"bad request for bob:{secret_pw}"))
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
        env.update(OPENAI_BASE_URL=f"http://bob:{secret_pw}@127.0.0.1:{srv.port}/v1",
                   OLLAMA_HOST=f"http://ollie:{secret_pw}@127.0.0.1:{free_port()}",
                   AZURE_AI_ENDPOINT=f"https://res.example/openai/v1?api-key={secret_q}",
                   AZURE_AI_API_KEY="az-key-0123456789abcdef")
        outs = []
        for args in (("providers",), ("providers", "--json", "--check"),
                     ("chat", "hi", "--target", "openai:standin-model")):
            out = subprocess.run([sys.executable, "-m", "services", *args], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
            outs.append(out.stdout + out.stderr)
        assert "127.0.0.1" in outs[0] and "res.example" in outs[0] and "rejected the request" in outs[2]
        for text in outs:
            assert secret_pw not in text and secret_q not in text, text
        # the address's credentials did go to the address itself
        assert srv.requests and all(r.headers.get("authorization", "").startswith("Basic ")
                                    for r in srv.requests)


# ---------- what one session does stays in that session ----------

def test_provider_health_and_last_error_are_per_session():
    with OpenAIStandIn(models=("shared-model",)) as srv:
        refused = f"http://127.0.0.1:{free_port()}/v1"
        with scope.scoped("session-a"), config.session({"OPENAI_BASE_URL": refused}):
            with pytest.raises(BackendUnavailable):
                chat_once("openai:shared-model", "a private question")
            a = provider_status.status("openai")
            assert a.reachable is False and "Cannot reach" in a.last_error
        with scope.scoped("session-b"), config.session({"OPENAI_BASE_URL": refused}):
            # the same typed address in another session: A's failure is not B's to see
            b = provider_status.status("openai")
            assert b.reachable is None and b.last_error == ""
        with scope.scoped("session-b"), config.session({"OPENAI_BASE_URL": srv.url}):
            chat_once("openai:shared-model", "hi")
            assert get_backend("openai").health().reachable is True
        with scope.scoped("session-a"), config.session({"OPENAI_BASE_URL": srv.url}):
            assert get_backend("openai").health().reachable is None


def test_model_lists_are_kept_per_address_and_key():
    with OpenAIStandIn(models=("a-private-model",)) as a_srv, OpenAIStandIn(models=("b-model",)) as b_srv:
        backend = OpenAICompatBackend("openai")
        with scope.scoped("a"), config.session({"OPENAI_BASE_URL": a_srv.url, "OPENAI_API_KEY": TYPED_KEY}):
            assert [m["id"] for m in backend.discover()] == ["a-private-model"]
        with scope.scoped("b"), config.session({"OPENAI_BASE_URL": b_srv.url}):
            assert [t.target for t in backend.list_targets()] == ["openai:b-model"]
            assert [m["id"] for m in backend._cached_models()] == ["b-model"]
        # the same address with another key is listed afresh, with that key, not from A's cache
        with scope.scoped("c"), config.session({"OPENAI_BASE_URL": a_srv.url, "OPENAI_API_KEY": "sk-other-c-99"}):
            backend.discover()
        auths = [r.headers.get("authorization") for r in a_srv.requests]
        assert auths == [f"Bearer {TYPED_KEY}", "Bearer sk-other-c-99"]


def test_llamacpp_live_context_is_reused_only_by_its_own_session():
    pytest.importorskip("llama_cpp")
    target = "llamacpp:smollm2-135m-instruct"
    system = Message("system", "You are a helpful assistant. " + "Answer briefly. " * 20)
    params = GenerationParams(temperature=0, max_tokens=2)

    def reused(session: str, question: str) -> int:
        with scope.scoped(session):
            s = start_chat(target, [system, Message("user", question)], params).finish()
        return s.metrics.server["prompt_cache_tokens"]

    reused("a", "What is the capital of France?")
    # the same session reuses its own long system prompt ...
    assert reused("a", "What is the capital of Spain?") > 50
    # ... another session asking after the same prefix learns nothing from the reuse figure
    assert reused("b", "What is the capital of Spain?") == 0
    assert reused("b", "What is the capital of Italy?") > 50
