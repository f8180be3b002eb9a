"""Reading 429 answers: Retry-After forms, quotas versus short waits, the reset sentence."""

from __future__ import annotations

import email.utils
import time

import httpx2
import pytest
from openai import RateLimitError

from services.ratelimit import is_quota, reset_phrase, retry_after_s


def error(headers: dict, message="Too many requests") -> RateLimitError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(429, headers=headers, request=request)
    return RateLimitError(message, response=response, body={"error": {"message": message}})


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after": "2"}, 2.0),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after": "1.5"}, 1.5),
    ({}, None),
    ({"retry-after": "soon"}, None),
])
def test_retry_after_forms(headers, expected):
    assert retry_after_s(httpx2.Headers(headers)) == expected


def test_retry_after_as_http_date():
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert retry_after_s(httpx2.Headers({"retry-after": when})) == pytest.approx(120, abs=2)


def test_quota_or_blip():
    assert not is_quota(error({"retry-after": "1"}), 1.0)
    assert is_quota(error({"retry-after": "3600"}), 3600.0)
    assert is_quota(error({}), None)
    assert is_quota(error({"retry-after": "1", "x-ratelimit-type": "UserByDay"}), 1.0)
    assert is_quota(error({"retry-after": "1"}, "Daily quota exceeded"), 1.0)


def test_reset_sentence():
    assert "UTC" in reset_phrase(7200) and "2 h" in reset_phrase(7200)
    assert "did not say" in reset_phrase(None)
