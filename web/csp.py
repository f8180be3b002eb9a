"""The Content-Security-Policy and the other security headers, set on every HTTP response."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

# Streamlit's frontend styles itself with emotion, which writes <style> elements at run time:
# style-src needs 'unsafe-inline' (styles cannot fetch anything under img-src/connect-src below).
# Scripts stay narrow: the bundle from the app itself plus the hash of each inline <script> in
# Streamlit's index.html (computed from the installed file, so an upgrade cannot silently break it);
# 'wasm-unsafe-eval' lets the frontend's protobuf decoder compile its WebAssembly, and allows no JS eval.
BASE_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self' 'wasm-unsafe-eval'"),
    ("style-src", "'self' 'unsafe-inline'"),
    ("font-src", "'self' data:"),  # KaTeX's Size3 font is a data: URL in Streamlit's CSS
    ("img-src", "'self' data: blob:"),
    ("media-src", "'self' data: blob:"),
    # 'self' covers ws:/wss: to the same host and port (CSP Level 3, as Chromium implements it)
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("frame-ancestors", "'self'"),
    ("base-uri", "'self'"),
    ("form-action", "'self'"),
)

OTHER_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "SAMEORIGIN"),
)


class _InlineScripts(HTMLParser):
    """Collect the text of every <script> without a src attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.scripts[-1] += data


def inline_script_hashes(index_html: str) -> list[str]:
    """CSP source expressions ('sha256-...') for the inline scripts of a trusted page template."""
    parser = _InlineScripts()
    parser.feed(index_html)
    parser.close()
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in parser.scripts]


def policy(script_hashes: list[str] | tuple[str, ...] = ()) -> str:
    """The whole policy as one header value."""
    parts = []
    for name, value in BASE_DIRECTIVES:
        if name == "script-src" and script_hashes:
            value = " ".join([value, *script_hashes])
        parts.append(f"{name} {value}")
    return "; ".join(parts)


class SecurityHeaders:
    """ASGI middleware: the policy and the other headers on every HTTP response, replacing any set below."""

    def __init__(self, app, policy: str) -> None:
        self.app = app
        self.headers = [(b"content-security-policy", policy.encode("latin-1"))] + [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in OTHER_HEADERS]
        self._names = {k for k, _ in self.headers}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self._names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
