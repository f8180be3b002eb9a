"""Key resolution (session, secrets.toml, environment), masking, and what unconfigured providers say."""

from __future__ import annotations

import pytest

from services import config
from services.backends.openai_backend import OpenAICompatBackend
from services.errors import BackendUnavailable
from services.providers import PROVIDERS, connection

KEY = "ghp_abcdefghijklmnopqrstuvwxyzx1y2"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    for name in ("GITHUB_TOKEN", "NVIDIA_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY",
                 "AZURE_AI_ENDPOINT", "AZURE_AI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    secrets = tmp_path / "secrets.toml"
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(secrets))
    return secrets


def test_mask_never_shows_the_whole_key():
    assert config.mask(KEY) == "ghp_…x1y2"
    assert config.mask("short") == "…" and config.mask("") == ""
    assert KEY not in repr(config.resolve("X", session={"X": KEY}))


def test_missing_secrets_file_is_fine():
    assert config.read_secrets() == {}
    assert config.secrets_problem() == ""
    assert config.resolve("GITHUB_TOKEN").value is None


def test_precedence_session_then_secrets_then_environment(isolated, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "from-env-000000000000")
    assert config.resolve("GITHUB_TOKEN").source == "environment"
    isolated.write_text('GITHUB_TOKEN = "from-secrets-0000000000"\n[other]\nx = 1\n')
    r = config.resolve("GITHUB_TOKEN")
    assert (r.value, r.source) == ("from-secrets-0000000000", "secrets.toml")
    with config.session({"GITHUB_TOKEN": KEY}):
        assert config.resolve("GITHUB_TOKEN").source == "typed for this session"
    assert config.resolve("GITHUB_TOKEN").source == "secrets.toml"


def test_bad_secrets_file_is_reported_without_its_content(isolated):
    isolated.write_text(f'GITHUB_TOKEN = "{KEY}\n')
    problem = config.secrets_problem()
    assert "not valid TOML" in problem and KEY not in problem
    assert config.resolve("GITHUB_TOKEN").value is None  # and nothing crashes


def test_redact_removes_keys():
    text = config.redact(f"server said: bad key {KEY}", [KEY, None])
    assert KEY not in text and "ghp_…x1y2" in text


def test_unconfigured_provider_names_the_setting():
    with pytest.raises(BackendUnavailable) as info:
        connection(PROVIDERS["github"])
    assert "GITHUB_TOKEN" in info.value.user_message()
    assert "secrets.toml" in info.value.user_message()
    with pytest.raises(BackendUnavailable) as info:
        connection(PROVIDERS["openai"])
    assert "OPENAI_BASE_URL" in info.value.user_message()


def test_each_provider_reads_only_its_own_key(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert connection(PROVIDERS["github"]).key == KEY
    assert connection(PROVIDERS["openai"]).key is None
    with pytest.raises(BackendUnavailable):
        connection(PROVIDERS["nim"])
    assert KEY not in repr(connection(PROVIDERS["github"]))


def test_unavailable_targets_are_listed_with_reason_and_no_network():
    infos = OpenAICompatBackend("github").list_targets()
    assert infos and not any(i.available for i in infos)
    assert all("GITHUB_TOKEN" in i.reason for i in infos)
    assert all(not i.capabilities.local for i in infos)
    assert "github:microsoft/phi-3.5-mini-instruct" in {i.target for i in infos}


def test_azure_endpoint_forms(monkeypatch):
    monkeypatch.setenv("AZURE_AI_API_KEY", "k" * 20)
    monkeypatch.setenv("AZURE_AI_ENDPOINT", "https://res.services.ai.azure.com/")
    c = connection(PROVIDERS["azure"])
    assert c.base_url == "https://res.services.ai.azure.com/models" and "api-version" in c.query
    monkeypatch.setenv("AZURE_AI_ENDPOINT", "https://res.openai.azure.com/openai/v1/")
    assert connection(PROVIDERS["azure"]).query == {}


def test_session_keys_do_not_leak_between_threads():
    import threading

    seen = {}
    with config.session({"GITHUB_TOKEN": KEY}):
        t = threading.Thread(target=lambda: seen.update(v=config.resolve("GITHUB_TOKEN").value))
        t.start()
        t.join()
    assert seen["v"] is None
