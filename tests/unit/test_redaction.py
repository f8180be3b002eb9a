"""Key masking finds a key however a server echoed it: URL-encoded, base64-encoded, or split by whitespace."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import pytest

from services import config
from services.credentials import Credential
from services.redaction import encodings

KEY = "sk-CANARY/openai+abc123=="


def echoes(key: str) -> dict[str, str]:
    """The ways a provider's error body has been seen to carry a key it refused."""
    b64 = base64.b64encode(key.encode()).decode()
    return {
        "as is": f"Incorrect API key provided: {key}.",
        "URL-encoded": f"GET /v1/models?api-key={quote(key, safe='')} failed",
        "form-encoded": f"body: key={quote_plus(key)}&x=1",
        "lower-case escapes": f"at {quote(key, safe='').replace('%2F', '%2f')} here",
        "base64": f"token {b64} rejected",
        "base64 url-safe": f"token {b64.replace('+', '-').replace('/', '_')} rejected",
        "basic auth (user:key)": f"Authorization: Basic {base64.b64encode(('me:' + key).encode()).decode()}",
        "basic auth (xy:key)": f"Authorization: Basic {base64.b64encode(('xy:' + key).encode()).decode()}",
        "spaced": "key " + " ".join(key[i:i + 4] for i in range(0, len(key), 4)) + " is wrong",
        "across lines": f"key {key[:9]}\n    {key[9:]} is wrong",
    }


@pytest.mark.parametrize("how", list(echoes(KEY)))
def test_a_key_is_masked_however_it_was_echoed(how):
    text = echoes(KEY)[how]
    shown = config.redact(text, [KEY])
    assert not any(form in "".join(shown.split()) for form in encodings(KEY)), shown
    assert config.mask(KEY) in shown


def test_a_credentials_address_secrets_are_masked_in_every_form():
    cred = Credential("openai", "http://user:pass-word-1234@host/v1?api-key=qk-0123456789", "sk-key-0123456789abc")
    text = f"{quote('pass-word-1234', safe='')} {base64.b64encode(b'qk-0123456789').decode()} sk-key- 0123456789abc"
    shown = cred.redact(text)
    assert "pass-word" not in shown and "0123456789" not in shown, shown


def test_ordinary_text_is_left_alone():
    text = "The answer is 42. Spaces   and\nlines stay as they are; base64 of nothing: c2stQ0FO."
    assert config.redact(text, [KEY, "abcd"]) == text
    # a short secret is only found whole: its spaced or encoded forms would match ordinary words
    assert config.redact("a b c d and abcd", ["abcd"]) == "a b c d and …"


def test_a_large_text_is_masked_in_one_pass():
    text = ("x " * 500_000) + KEY + (" y" * 500_000)
    shown = config.redact(text, [KEY, "another-key-0123456789"])
    assert KEY not in shown and len(shown) < len(text)
