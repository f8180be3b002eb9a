"""OpenAI SDK errors as the playground's typed errors, in plain words, with any key scrubbed out."""

from __future__ import annotations

from urllib.parse import urlsplit

from services import credentials
from services.errors import (AuthFailed, BackendTimeout, BackendUnavailable, BadRequest, ContentFiltered,
                             PlaygroundError, RateLimited)
from services.ratelimit import reset_phrase, retry_after_s


def translate(exc: Exception, conn, provider, read_timeout_s: float, model: str = "") -> PlaygroundError:
    """One SDK exception, raised for a request on `conn` to `provider`, as one of ours."""
    import openai

    # the host and port only: a user or password in the address is never part of a message
    title, host = provider.title, urlsplit(conn.base_url).netloc.rpartition("@")[2]

    def clean(text: str) -> str:
        return conn.credential.redact(text)[:300]

    if isinstance(exc, openai.APITimeoutError):
        return BackendTimeout(f"{title} did not answer within {read_timeout_s:g} s.",
                              hint="Try again, or lower max tokens.")
    if isinstance(exc, openai.APIConnectionError):
        return BackendUnavailable(f"Cannot reach {title} at {host}.",
                                  hint="Check the address and that the server is running.")
    if isinstance(exc, openai.RateLimitError):
        wait = retry_after_s(exc.response.headers)
        return RateLimited(f"{title} rate limit reached. {reset_phrase(wait)}",
                           retry_after=wait, hint="Wait, or pick another provider or model.")
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if 300 <= code < 400:
            setting = provider.base_env or "the address"
            return BadRequest(
                f"{title} at {host} answered with a redirect (HTTP {code}), which is not followed: "
                "a key goes only to the address it was set for.",
                hint=f"Set {setting} to the address the server redirects to.")
        if code in (401, 403) and not conn.key and conn.credential.origin == credentials.SESSION:
            return AuthFailed(
                f"{title} at the address typed for this session wants a key (HTTP {code}).",
                hint=f"Type {provider.key_env} on the Models page too: a configured key "
                     "is only ever sent to the configured address.")
        if code in (401, 403):
            return AuthFailed(
                f"{title} refused the key from {provider.key_env} (HTTP {code}).",
                hint=f"Check {provider.key_env}: it may be wrong, expired, or lack permission.")
        if code == 404:
            return BadRequest(f"{title} has no model {model!r} (HTTP 404).",
                              hint="Pick one of the listed targets.")
        body = exc.body if isinstance(exc.body, dict) else {}
        err_code = str(body.get("code") or (body.get("error") or {}).get("code") or "")
        if "content_filter" in err_code or "content_filter" in str(exc.message):
            return ContentFiltered(f"{title}'s content filter blocked this prompt.")
        if code >= 500:
            return BackendUnavailable(f"{title} had a server error (HTTP {code}).",
                                      hint="Try again in a moment.")
        return BadRequest(f"{title} rejected the request (HTTP {code}): {clean(exc.message)}")
    if isinstance(exc, openai.APIError):
        return BackendUnavailable(f"{title} sent an error: {clean(exc.message)}")
    return BackendUnavailable(f"{title} failed: {type(exc).__name__}.")
