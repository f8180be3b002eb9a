"""Who may reach the server: loopback only by default, a token for any other address."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from http.cookies import SimpleCookie
import socket
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

TOKEN_ENV = "PHI_PLAYGROUND_TOKEN"
COOKIE = "phi_playground_token"
# shorter tokens can be guessed over the network; 16 characters of token_urlsafe are 96 bits
MIN_TOKEN_CHARS = 16
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
DENIED = (b"This Phi Playground needs its access token: open the login URL printed where the server started "
          b"(it ends in ?token=...), or send the header 'Authorization: Bearer <token>'.\n")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
ELSEWHERE = (b"This Phi Playground answers this machine only, at http://127.0.0.1 or http://localhost; to reach it "
             b"from elsewhere its owner starts it with PHI_PLAYGROUND_TOKEN set.\n")


OTHER_ORIGIN = (b"This Phi Playground accepts requests from its own pages only (the same scheme, host and port); "
                b"open it at its own address instead of from another page.\n")
DEFAULT_PORTS = {"http": 80, "https": 443}
# a websocket's scope names ws/wss; its page's origin names http/https
PAGE_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class StartupRefused(SystemExit):
    """The server must not start: the message is one sentence saying what to set."""


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 (also IPv4-mapped) and the localhost names; False for wildcards and others."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def startup_token(address: str | None, environ: dict[str, str]) -> str | None:
    """The token the server must demand (None: loopback only); refuses an open bind without one.

    `address` is Streamlit's server.address: None or "" means Streamlit's own default, every interface.
    """
    token = (environ.get(TOKEN_ENV) or "").strip()
    where = address or "every interface (0.0.0.0)"
    if token and len(token) < MIN_TOKEN_CHARS:
        raise StartupRefused(f"{TOKEN_ENV} is too short: use at least {MIN_TOKEN_CHARS} characters, "
                             f"for example the output of {MAKE_TOKEN}.")
    if token:
        return token
    if address and address.startswith("unix://"):
        return None  # a Unix socket is reached through file permissions, not the network
    if not is_loopback(address):
        raise StartupRefused(f"Listening on {where} needs a token: set {TOKEN_ENV} (for example "
                             f"export {TOKEN_ENV}=$({MAKE_TOKEN})) or use --server.address 127.0.0.1.")
    return None


def _lan_address() -> str:
    """This machine's name, for a URL others on the network can open (no lookup, nothing sent)."""
    return socket.gethostname()


def welcome(address: str | None, port: int, token: str | None, scheme: str = "http") -> str:
    """The start-up lines: where to open the app, with the login URL when a token is required."""
    host = address if address and not address.startswith("unix://") else "0.0.0.0"
    shown = _lan_address() if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    url = f"{scheme}://{shown}:{port}"
    if token is None:
        return f"\n  Phi Playground (this machine only): {url}\n"
    return (f"\n  Phi Playground on {host}:{port}; every request needs the token.\n"
            f"  Open once to log this browser in: {url}/?token={token}\n")


def cookie_value(token: str) -> str:
    """What the browser keeps: derived from the token, so the cookie is not the token itself."""
    return hmac.new(token.encode(), b"phi-playground browser cookie", hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class TokenGate:
    """ASGI middleware: with a token, every request and websocket carries it; without, loopback peers only."""

    def __init__(self, app, token: str | None) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie_value(token) if token else None

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not from_own_origin(scope):
            # before the token: a page on another port of this machine sends the cookie too (cookies are
            # not bound to a port), so only the origin tells the app's own pages from another site's
            await self._deny(kind, send, 403, OTHER_ORIGIN)
            return
        if self.token is None:
            # the bind is loopback (checked at startup); the peer check also holds if the app is served some
            # other way, and the Host check stops DNS rebinding (a site whose name turns into 127.0.0.1)
            if is_loopback((scope.get("client") or ("",))[0]) and is_loopback(_host_name(scope)):
                await self.app(scope, receive, send)
            else:
                await self._deny(kind, send, 403, ELSEWHERE)
            return
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                              keep_blank_values=True)]
        from_query = next((v for k, v in query if k == "token"), None)
        if from_query is not None and _same(from_query, self.token):
            if kind == "http" and scope["method"] == "GET":
                await self._login(scope, [(k, v) for k, v in query if k != "token"], send)
            else:
                await self.app(scope, receive, send)
            return
        if self._carries_token(scope):
            await self.app(scope, receive, send)
        else:
            await self._deny(kind, send)

    def _carries_token(self, scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, given = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and _same(given.strip(), self.token):
                    return True
            elif name == b"cookie":
                jar = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # a malformed cookie header is just no cookie
                    continue
                if COOKIE in jar and _same(jar[COOKIE].value, self.cookie):
                    return True
        return False

    async def _login(self, scope, rest: list[tuple[str, str]], send) -> None:
        """Set the cookie and send the browser to the same address without the token in it."""
        root = scope.get("root_path", "")
        where = quote(root + scope["path"]) + (f"?{urlencode(rest)}" if rest else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={self.cookie}; Path={root or '/'}; HttpOnly; SameSite=Strict{secure}"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", where.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _deny(kind: str, send, status: int = 401, text: bytes = DENIED) -> None:
        if kind == "websocket":
            # closing before accepting makes the server answer the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store"),
                   (b"content-length", str(len(text)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": text})


def _host_name(scope) -> str:
    """The name in the request's Host header, without the port ('' when there is none)."""
    value = _header(scope, b"host") or ""
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def _header(scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), None)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an origin, the default port filled in; None for anything else."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or parts.username is not None or parts.path not in ("", "/") \
                or parts.query or parts.fragment or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is not a number, or out of range
        return None


def from_own_origin(scope) -> bool:
    """False when the request carries an Origin other than the app's own (scheme, host and port, exactly).

    Browsers send Origin on every websocket handshake and on every request a page makes that could
    change something (any cross-origin request, and non-GET ones), so a page of another origin, another
    port of this machine included, is refused. A request without Origin comes from no web page (curl, a
    script, a link followed by navigation, which changes nothing): it passes to the loopback and token
    checks as before. `Origin: null` (a sandboxed frame, a file) is never the app's own.
    """
    given = _header(scope, b"origin")
    if given is None:
        return True
    scheme = PAGE_SCHEMES.get(scope.get("scheme", "http"))
    host = _header(scope, b"host")
    own = _origin(f"{scheme}://{host}") if scheme and host else None
    return own is not None and _origin(given) == own
