"""Find a secret in a text however a server echoed it: as is, URL-encoded, base64-encoded, or split by whitespace.

Plain string search over a few encodings of each secret, on the text with its whitespace taken out
(and mapped back), so the work is linear in the text for each secret; no pattern is built from a secret.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

# shorter secrets are only found as they are: their encodings or spaced forms would match ordinary text
MIN_ENCODED = 8
_B64_SWAP = str.maketrans("+/", "-_")


def _base64_cores(secret: bytes) -> set[str]:
    """The base64 characters that only the secret's bytes decide, at each of the 3 offsets it can start at
    inside a longer base64 text (as a password inside a Basic-auth `user:password` is)."""
    out = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + secret).decode("ascii").rstrip("=")
        core = enc[-(-8 * k // 6): (8 * (k + len(secret))) // 6]
        if len(core) >= MIN_ENCODED:
            out |= {core, core.translate(_B64_SWAP)}
    return out


def encodings(secret: str) -> set[str]:
    """The forms of one secret to look for (whitespace taken out of each; percent escapes in upper case)."""
    forms = {secret}
    if len(secret) >= MIN_ENCODED:
        forms |= {quote(secret, safe=""), quote_plus(secret), quote(secret)}
        forms |= _base64_cores(secret.encode("utf-8"))
    return {"".join(f.split()) for f in forms} - {""}


def _upper_escapes(text: str) -> str:
    """%2f -> %2F (the same length): escapes found whichever case a server wrote them in."""
    parts = text.split("%")
    return parts[0] + "".join("%" + p[:2].upper() + p[2:] for p in parts[1:])


def _squeeze(text: str) -> tuple[str, list[int]]:
    """The text without whitespace, and where each kept character was in the text."""
    kept = [i for i, ch in enumerate(text) if not ch.isspace()]
    return "".join(text[i] for i in kept), kept


def _find_all(haystack: str, needle: str) -> Iterable[int]:
    start = haystack.find(needle)
    while start >= 0:
        yield start
        start = haystack.find(needle, start + 1)


def redact(text: str, secrets: Iterable[str], mask: Callable[[str], str], min_chars: int = 4) -> str:
    """The text with every form of every secret replaced by mask(secret)."""
    secrets = sorted({s for s in secrets if s and len(s) >= min_chars}, key=len, reverse=True)
    if not secrets or not text:
        return text
    squeezed, where = _squeeze(text)
    escaped = _upper_escapes(squeezed) if "%" in squeezed else squeezed
    spans: list[tuple[int, int, str]] = []  # (start, end) in text, and the secret found there
    for secret in secrets:
        # a short secret is only found as it is and unbroken; a long one in any of its forms
        forms = encodings(secret) if len(secret) >= MIN_ENCODED else set()
        for form in forms:
            for at in _find_all(escaped if "%" in form else squeezed, form):
                spans.append((where[at], where[at + len(form) - 1] + 1, secret))
        if not forms:
            spans += [(at, at + len(secret), secret) for at in _find_all(text, secret)]
    if not spans:
        return text
    # overlapping finds become one, masked as the longest secret among them
    spans.sort()
    merged = [list(spans[0])]
    for start, end, secret in spans[1:]:
        last = merged[-1]
        if start < last[1]:
            last[1] = max(last[1], end)
            last[2] = max(last[2], secret, key=len)
        else:
            merged.append([start, end, secret])
    out, pos = [], 0
    for start, end, secret in merged:
        out += [text[pos:start], mask(secret)]
        pos = end
    out.append(text[pos:])
    return "".join(out)
