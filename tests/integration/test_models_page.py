"""AppTest: unavailable cloud targets explain themselves; the Models page shows state, never a key."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.readable import readable
from tests.standins.openai_sse import OpenAIStandIn

pytestmark = pytest.mark.integration

CANARY = "sk-CANARY-page-55aa77bb99cc"
ENVS = ("GITHUB_TOKEN", "NVIDIA_API_KEY", "AZURE_AI_ENDPOINT", "AZURE_AI_API_KEY",
        "OPENAI_BASE_URL", "OPENAI_API_KEY", "OLLAMA_HOST")


@pytest.fixture(autouse=True)
def no_keys(monkeypatch, tmp_path):
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent.toml"))
    st.cache_data.clear()  # target lists are cached per process
    yield
    st.cache_data.clear()


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def shown_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [readable(e.value) for e in getattr(at, kind)]
    parts += [readable(e.label) for e in at.expander]
    parts += [str(e.value) for e in at.text_input]
    return "\n".join(parts)


def test_chat_picker_shows_why_a_cloud_target_is_unavailable():
    at = app().run()
    assert not at.exception
    box = at.selectbox(key="chat_target")
    # options read "family · target  (unavailable: reason)"
    assert any("github:microsoft/phi-3.5-mini-instruct" in o and "GITHUB_TOKEN" in o for o in box.options)
    box.set_value("github:microsoft/phi-3.5-mini-instruct").run()
    assert not at.exception
    reasons = [readable(w.value) for w in at.sidebar.warning]
    assert any("GITHUB_TOKEN" in r and "unavailable" in r for r in reasons), reasons
    # nothing can be sent to a target that cannot answer
    assert at.chat_input(key="chat_input").disabled


def test_models_page_lists_every_provider_and_what_to_set():
    at = app()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception
    labels = " ".join(readable(e.label) for e in at.expander)
    for title in ("GitHub Models", "Azure AI Foundry", "NVIDIA NIM", "OpenAI-compatible server",
                  "Ollama", "llama.cpp"):
        assert title in labels
    text = shown_text(at)
    assert "GITHUB_TOKEN" in text and "OPENAI_BASE_URL" in text and "NVIDIA_API_KEY" in text


def test_typed_key_is_used_masked_and_never_echoed():
    with OpenAIStandIn(models=("standin-phi-3.5-mini",)) as srv:
        at = app()
        at.switch_page("app_pages/models.py").run()
        at.text_input(key="models_type_OPENAI_BASE_URL").input(srv.url)
        at.text_input(key="models_type_OPENAI_API_KEY").input(CANARY)
        submit = next(b for b in at.button if "models_keys_form" in (b.key or "") or b.label == "Use for this session")
        submit.click().run()
        assert not at.exception
        at.button(key="models_check_openai").click().run()
        assert not at.exception
        text = shown_text(at)
        assert CANARY not in text
        assert "sk-C…99cc" in text  # shown masked only
        assert all(not e.value for e in at.text_input if (e.key or "").startswith("models_type_"))
        assert srv.requests and srv.requests[-1].headers.get("authorization") == f"Bearer {CANARY}"
        assert "🟢 OpenAI-compatible server" in " ".join(readable(e.label) for e in at.expander)
