"""Reading rate-limit answers: how long to wait, and whether waiting seconds can help at all."""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime

# a 429 asking to wait at most this long is retried once; anything longer is a quota, not a blip
SHORT_RETRY_AFTER_S = 10.0


def retry_after_s(headers) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date), retry-after-ms or x-ratelimit-reset."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)
    reset = headers.get("x-ratelimit-reset") or headers.get("x-ratelimit-reset-requests")
    if reset:
        try:
            n = float(reset.rstrip("s"))
            # an epoch timestamp or a number of seconds
            return max(n - time.time(), 0.0) if n > 1e9 else n
        except ValueError:
            pass
    return None


def is_quota(exc, wait: float | None) -> bool:
    """A daily or monthly quota: waiting seconds will not help, so never retry it."""
    headers = exc.response.headers
    kind = (headers.get("x-ratelimit-type") or "").lower()
    text = str(getattr(exc, "body", "") or "").lower() + " " + str(exc.message).lower()
    if "day" in kind or "month" in kind or any(w in text for w in ("per day", "daily", "quota")):
        return True
    return wait is None or wait > SHORT_RETRY_AFTER_S


def reset_phrase(wait: float | None) -> str:
    """When the limit lifts, in UTC and as a span, for the error message."""
    if wait is None:
        return "The provider did not say when it resets."
    at = datetime.fromtimestamp(time.time() + wait, tz=UTC)
    hours, rem = divmod(int(wait), 3600)
    span = f"{hours} h {rem // 60} min" if hours else f"{max(rem // 60, 0)} min {rem % 60} s"
    return f"It resets at {at:%H:%M} UTC (in {span})."
