"""A key travels only with its own address: resolution in every combination, masking, the HTTP hook."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from services import config, credentials, scope
from services.backends import kv_reuse
from services.credentials import CONFIGURED, GIVEN, SESSION, Credential, KeyBindingError
from services.errors import BackendUnavailable
from services.providers import PROVIDERS, connection

CONF_KEY = "sk-CONFIGURED-0123456789abcdef"
TYPED_KEY = "sk-TYPED-fedcba9876543210"
CONF_URL = "https://configured.example/v1"
TYPED_URL = "http://typed.example:8080/v1"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    for name in ("GITHUB_TOKEN", "NVIDIA_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY", "AZURE_AI_ENDPOINT",
                 "AZURE_AI_API_KEY", "OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "secrets.toml"))
    return tmp_path / "secrets.toml"


def openai(typed=None, env=None, **kw) -> Credential:
    return credentials.resolve("openai", address_setting="OPENAI_BASE_URL", key_setting="OPENAI_API_KEY",
                               typed=typed or {}, env=env or {}, secrets={}, **kw)


CONFIGURED_ENV = {"OPENAI_BASE_URL": CONF_URL, "OPENAI_API_KEY": CONF_KEY}


# ---------- resolution: every combination ----------

def test_configured_key_goes_with_the_configured_address():
    c = openai(env=CONFIGURED_ENV)
    assert (c.address, c.key, c.origin, c.key_origin) == (CONF_URL, CONF_KEY, CONFIGURED, CONFIGURED)
    assert c.address_source == c.key_source == "environment"


def test_typed_address_without_typed_key_has_no_key():
    c = openai(typed={"OPENAI_BASE_URL": TYPED_URL}, env=CONFIGURED_ENV)
    assert (c.address, c.key, c.origin, c.key_origin) == (TYPED_URL, None, SESSION, "")


def test_typed_address_with_typed_key():
    c = openai(typed={"OPENAI_BASE_URL": TYPED_URL, "OPENAI_API_KEY": TYPED_KEY}, env=CONFIGURED_ENV)
    assert (c.address, c.key, c.origin, c.key_origin) == (TYPED_URL, TYPED_KEY, SESSION, SESSION)


def test_typed_key_alone_goes_to_the_configured_address():
    c = openai(typed={"OPENAI_API_KEY": TYPED_KEY}, env=CONFIGURED_ENV)
    assert (c.address, c.key, c.origin, c.key_origin) == (CONF_URL, TYPED_KEY, CONFIGURED, SESSION)


def test_configured_key_and_typed_address_can_never_be_paired():
    with pytest.raises(KeyBindingError):
        Credential("openai", TYPED_URL, CONF_KEY, origin=SESSION, key_origin=CONFIGURED)
    # and a key typed in a session never goes to an address set in code
    with pytest.raises(KeyBindingError):
        Credential("openai", TYPED_URL, TYPED_KEY, origin=GIVEN, key_origin=SESSION)


def test_secrets_toml_counts_as_configured_and_typed_address_still_wins_without_its_key():
    c = credentials.resolve("openai", address_setting="OPENAI_BASE_URL", key_setting="OPENAI_API_KEY",
                            typed={"OPENAI_BASE_URL": TYPED_URL}, env={},
                            secrets={"OPENAI_BASE_URL": CONF_URL, "OPENAI_API_KEY": CONF_KEY})
    assert c.key is None and c.address == TYPED_URL
    c = credentials.resolve("openai", address_setting="OPENAI_BASE_URL", key_setting="OPENAI_API_KEY",
                            typed={}, env={}, secrets={"OPENAI_BASE_URL": CONF_URL, "OPENAI_API_KEY": CONF_KEY})
    assert (c.key, c.key_source, c.address_source) == (CONF_KEY, "secrets.toml", "secrets.toml")


def test_address_given_in_code():
    # an address set in code is the program's own configuration: the configured key, or the given one
    c = openai(env=CONFIGURED_ENV, given_address=TYPED_URL)
    assert (c.key, c.origin, c.key_origin) == (CONF_KEY, GIVEN, CONFIGURED)
    c = openai(env=CONFIGURED_ENV, given_address=TYPED_URL, given_key="")
    assert c.key is None
    # a key typed in the session is not used with it
    c = openai(typed={"OPENAI_API_KEY": TYPED_KEY}, given_address=TYPED_URL)
    assert c.key is None


def test_fixed_address_providers_take_typed_then_configured_key():
    gh = dict(address_setting=None, key_setting="GITHUB_TOKEN", fixed_address="https://models.github.ai/inference",
              env={"GITHUB_TOKEN": CONF_KEY}, secrets={})
    assert credentials.resolve("github", typed={}, **gh).key == CONF_KEY
    typed = credentials.resolve("github", typed={"GITHUB_TOKEN": TYPED_KEY}, **gh)
    assert (typed.key, typed.key_origin, typed.origin) == (TYPED_KEY, SESSION, CONFIGURED)


def test_connection_for_a_typed_azure_endpoint_needs_a_typed_key(monkeypatch):
    monkeypatch.setenv("AZURE_AI_ENDPOINT", "https://mine.services.ai.azure.com")
    monkeypatch.setenv("AZURE_AI_API_KEY", CONF_KEY)
    assert connection(PROVIDERS["azure"]).key == CONF_KEY
    with config.session({"AZURE_AI_ENDPOINT": "https://elsewhere.example"}):
        with pytest.raises(BackendUnavailable) as info:
            connection(PROVIDERS["azure"])
        assert "typed for this session" in info.value.user_message()
        assert "AZURE_AI_API_KEY" in info.value.user_message()
    with config.session({"AZURE_AI_ENDPOINT": "https://elsewhere.example", "AZURE_AI_API_KEY": TYPED_KEY}):
        c = connection(PROVIDERS["azure"])
        assert c.key == TYPED_KEY and c.base_url == "https://elsewhere.example/models"


def test_typed_ollama_host_never_takes_the_configured_ollama_key(monkeypatch):
    from services.backends.ollama_backend import OllamaBackend, credential

    monkeypatch.setenv("OLLAMA_API_KEY", CONF_KEY)
    assert credential().key == CONF_KEY and credential().address == "http://127.0.0.1:11434"
    with config.session({"OLLAMA_HOST": "typed.example:11434"}):
        c = OllamaBackend().credential()
        assert c.address == "http://typed.example:11434" and c.key is None
    with config.session({"OLLAMA_HOST": "typed.example:11434", "OLLAMA_API_KEY": TYPED_KEY}):
        assert credential().key == TYPED_KEY


# ---------- masking ----------

@pytest.mark.parametrize("url, secret", [
    ("https://user:pa55word-secret@host.example/v1", "pa55word-secret"),
    ("https://ghp_tokenAsUser123456@host.example/v1", "ghp_tokenAsUser123456"),
    ("https://res.openai.azure.com/openai/v1?api-key=AZSECRET123", "AZSECRET123"),
    ("https://host.example/v1?key=GOOGLEKEY42&api-version=2024-05-01", "GOOGLEKEY42"),
    ("http://host.example/v1?token=a%2Fb%3Dsecretvalue", "a/b=secretvalue"),
])
def test_credentials_in_urls_are_masked(url, secret):
    shown = config.mask_url(url)
    assert secret not in shown
    assert urlsplit(shown).hostname == urlsplit(url).hostname  # where it points stays readable
    assert secret in config.url_secrets(url)
    text = config.redact(f"could not reach {url}: refused", config.url_secrets(url))
    assert secret not in text
    # the API version is not a secret and stays readable
    assert config.mask_url("https://h/models?api-version=2024-05-01") == "https://h/models?api-version=2024-05-01"


def test_unreadable_url_is_not_echoed():
    assert config.mask_url("http://[::1:secret") == "(an address that cannot be read)"


def test_short_keys_show_their_last_four_only():
    assert config.mask("abcdefgh1234") == "…1234"  # no prefix of a short key
    assert config.mask("abcdef") == "…"  # too short to show any of it
    assert config.mask("ghp_abcdefghijklmnopqrstuvwxyzx1y2") == "ghp_…x1y2"
    c = Credential("openai", "https://u:pa55word-secret@h/v1", CONF_KEY)
    assert CONF_KEY not in repr(c) and "pa55word-secret" not in repr(c)
    assert "pa55word-secret" not in c.redact("GET https://u:pa55word-secret@h/v1 failed")


def test_status_shows_the_key_bound_to_the_address_it_shows(monkeypatch):
    from services.provider_status import _bound_settings

    typed = openai(typed={"OPENAI_BASE_URL": "http://u:pa55word-secret@typed.example/v1"})
    monkeypatch.setenv("OPENAI_API_KEY", CONF_KEY)
    address, key = _bound_settings(typed, "OPENAI_BASE_URL", "OPENAI_API_KEY")
    assert "pa55word-secret" not in address.masked and address.source == "typed for this session"
    assert not key.is_set and "not sent" in key.note


# ---------- the HTTP hook: no key header to another origin, no key from elsewhere ----------

def _run_hooks(options, request: httpx.Request) -> httpx.Request:
    if "auth" in options:
        request = options["auth"](request)
    for hook in options["event_hooks"]["request"]:
        hook(request)
    return request


def test_key_headers_are_dropped_for_any_other_origin():
    c = Credential("azure", "https://mine.example/models", CONF_KEY)
    opts = credentials.http_options(c)
    assert opts["follow_redirects"] is False
    headers = {"api-key": CONF_KEY, "Authorization": f"Bearer {CONF_KEY}", "x-other": "kept"}
    home = _run_hooks(opts, httpx.Request("POST", "https://mine.example:443/models/chat", headers=headers))
    assert home.headers["api-key"] == CONF_KEY
    for elsewhere in ("https://evil.example/models", "http://mine.example/models", "https://mine.example:8443/x"):
        req = _run_hooks(opts, httpx.Request("POST", elsewhere, headers=headers))
        assert "api-key" not in req.headers and "authorization" not in req.headers
        assert req.headers["x-other"] == "kept"


def test_bearer_auth_replaces_a_key_from_the_environment():
    typed_host = Credential("ollama", "http://typed.example:11434", None, origin=SESSION)
    env_header = {"authorization": f"Bearer {CONF_KEY}"}  # what the ollama client adds from $OLLAMA_API_KEY
    req = _run_hooks(credentials.http_options(typed_host, bearer=True),
                     httpx.Request("POST", "http://typed.example:11434/api/chat", headers=env_header))
    assert "authorization" not in req.headers
    with_user = Credential("ollama", "http://bob:pw@typed.example:11434", None, origin=SESSION)
    req = _run_hooks(credentials.http_options(with_user, bearer=True),
                     httpx.Request("POST", "http://typed.example:11434/api/chat", headers=env_header))
    assert req.headers["authorization"] == "Basic Ym9iOnB3"  # the address's own user and password
    own = Credential("ollama", "http://127.0.0.1:11434", TYPED_KEY, key_origin=SESSION)
    req = _run_hooks(credentials.http_options(own, bearer=True),
                     httpx.Request("POST", "http://127.0.0.1:11434/api/chat", headers=env_header))
    assert req.headers["authorization"] == f"Bearer {TYPED_KEY}"


# ---------- per-session state ----------

def test_per_scope_values_are_separate_and_bounded():
    store = scope.PerScope(list, limit=3)
    with scope.scoped("a"):
        store.get("k").append("a's error")
    with scope.scoped("b"):
        assert store.get("k") == []
    assert store.get("k") == []  # the process scope is a scope of its own
    for i in range(10):
        with scope.scoped(f"s{i}"):
            store.get()
    assert len(store) == 3


def test_live_state_is_reused_only_by_the_session_that_made_it():
    ids = list(range(40))
    with scope.scoped("a"):
        live = kv_reuse.LiveState(object(), ("greedy",), 1000, ids)
        assert live.reusable(ids + [41, 42], ("greedy",), 50) == 40
    with scope.scoped("b"):
        assert live.reusable(ids + [41, 42], ("greedy",), 50) == 0
