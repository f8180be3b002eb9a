"""The HTTP edge without a server: the bind rule, the token gate and the headers, on a real Starlette app."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.unit.test_layering import ROOT, imported_roots
from web import access, csp

TOKEN = "a-token-of-thirty-two-characters"


@pytest.mark.parametrize("path", sorted((ROOT / "web").glob("*.py")), ids=lambda p: p.name)
def test_the_edge_imports_no_streamlit(path: Path):
    assert "streamlit" not in imported_roots(path)


@pytest.mark.parametrize("host,expected", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("", False), (None, False),
    ("example.com", False),
])
def test_loopback(host, expected):
    assert access.is_loopback(host) is expected


def test_loopback_needs_no_token():
    assert access.startup_token("127.0.0.1", {}) is None
    assert access.startup_token("::1", {}) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.168.1.5", None, ""])
def test_any_other_address_without_a_token_refuses_with_one_sentence(address):
    with pytest.raises(access.StartupRefused) as exc:
        access.startup_token(address, {})
    text = str(exc.value)
    assert "needs a token: set PHI_PLAYGROUND_TOKEN" in text and "--server.address 127.0.0.1" in text
    assert text.count(". ") == 0 and text.endswith(".")


def test_a_short_token_is_refused_and_a_set_token_always_applies():
    with pytest.raises(access.StartupRefused, match="too short"):
        access.startup_token("0.0.0.0", {"PHI_PLAYGROUND_TOKEN": "short"})
    assert access.startup_token("0.0.0.0", {"PHI_PLAYGROUND_TOKEN": f" {TOKEN} "}) == TOKEN
    # asked for on loopback too: the owner set it
    assert access.startup_token("127.0.0.1", {"PHI_PLAYGROUND_TOKEN": TOKEN}) == TOKEN


def _app(token: str | None, client=("127.0.0.1", 5000), base_url="http://127.0.0.1:8501") -> TestClient:
    async def home(request):
        return PlainTextResponse("home " + request.url.query)

    async def stream(ws):
        await ws.accept()
        await ws.send_text("hello")
        await ws.close()

    app = Starlette(routes=[Route("/", home), Route("/x/y", home, methods=["GET", "PUT"]), WebSocketRoute("/ws", stream)],
                    middleware=[Middleware(csp.SecurityHeaders, policy=csp.policy(["'sha256-abc='"])),
                                Middleware(access.TokenGate, token=token)])
    return TestClient(app, client=client, base_url=base_url, follow_redirects=False)


def test_headers_on_every_response_and_refusal():
    c = _app(TOKEN)
    for r in (c.get("/"), c.get("/missing"), c.put("/x/y"), c.get(f"/?token={TOKEN}")):
        assert "connect-src 'self'" in r.headers["content-security-policy"]
        assert "script-src 'self' 'wasm-unsafe-eval' 'sha256-abc='" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"


def test_token_gate_http():
    c = _app(TOKEN)
    assert c.get("/").status_code == 401 and "needs its access token" in c.get("/").text
    assert c.get("/?token=wrong-token-of-the-same-length!!").status_code == 401
    assert c.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # the token once in the address: a cookie, and the same address without the token
    login = c.get(f"/x/y?a=1&token={TOKEN}&b=2")
    assert login.status_code == 303 and login.headers["location"] == "/x/y?a=1&b=2"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    good = f"{access.COOKIE}={access.cookie_value(TOKEN)}"
    assert _app(TOKEN).get("/x/y?a=1", headers={"Cookie": good}).text == "home a=1"
    bad = f"{access.COOKIE}={access.cookie_value('another-token-of-32-characters!!')}"
    assert _app(TOKEN).get("/", headers={"Cookie": bad}).status_code == 401
    assert _app(TOKEN).get("/", headers={"Cookie": 'x="\\'}).status_code == 401


def test_token_gate_websocket():
    c = _app(TOKEN)
    with pytest.raises(WebSocketDisconnect) as closed, c.websocket_connect("/ws"):
        pass
    assert closed.value.code == 1008
    with c.websocket_connect("/ws", headers={"Cookie": f"{access.COOKIE}={access.cookie_value(TOKEN)}"}) as ws:
        assert ws.receive_text() == "hello"


def test_without_a_token_only_loopback_peers_get_in():
    assert _app(None).get("/").status_code == 200
    assert _app(None, client=("::1", 5000)).get("/").status_code == 200
    assert _app(None, base_url="http://localhost:8501").get("/").status_code == 200
    assert _app(None, client=("::1", 5000), base_url="http://[::1]:8501").get("/").status_code == 200
    refused = _app(None, client=("192.168.1.7", 5000)).get("/")
    assert refused.status_code == 403 and "this machine only" in refused.text
    # DNS rebinding: a page of another site whose name now points at 127.0.0.1
    assert _app(None, base_url="http://rebind.example:8501").get("/").status_code == 403
    with pytest.raises(WebSocketDisconnect), _app(None, base_url="http://rebind.example:8501").websocket_connect("/ws"):
        pass


def test_inline_script_hashes_match_the_browser_rule():
    # the hash covers the script's text exactly as written, whitespace included
    html = '<script>\n  window.x = 1\n</script><script src="./a.js"></script>'
    import base64
    import hashlib
    expected = base64.b64encode(hashlib.sha256(b"\n  window.x = 1\n").digest()).decode()
    assert csp.inline_script_hashes(html) == [f"'sha256-{expected}'"]


def test_welcome_names_the_login_url_only_with_a_token():
    assert "this machine only): http://127.0.0.1:8501" in access.welcome("127.0.0.1", 8501, None)
    text = access.welcome("0.0.0.0", 8501, TOKEN)
    assert f":8501/?token={TOKEN}" in text and "0.0.0.0" in text


OWN = "http://127.0.0.1:8501"
# another port of this machine, the other loopback name, another scheme, a sandboxed frame, junk
FOREIGN = ["http://127.0.0.1:3000", "http://localhost:8501", "https://127.0.0.1:8501", "null",
           "http://127.0.0.1:8501.evil.example", "http://user@127.0.0.1:8501", "http://127.0.0.1:x", ""]


@pytest.mark.parametrize("token", [None, TOKEN])
def test_only_the_apps_own_origin_gets_the_websocket_and_state_changes(token):
    auth = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    c = _app(token)
    ws_url = OWN.replace("http", "ws") + "/ws"  # the test client's websocket names its host only this way
    for origin in FOREIGN:
        with pytest.raises(WebSocketDisconnect) as closed, c.websocket_connect(ws_url, headers={"Origin": origin, **auth}):
            pass
        assert closed.value.code == 1008, origin
        for method in ("PUT", "GET"):
            r = c.request(method, "/x/y", headers={"Origin": origin, **auth})
            assert r.status_code == 403 and "its own pages only" in r.text, (origin, method)
    # the app's own origin (the default port written or not), and clients that send no Origin
    for origin in (OWN, OWN + "/", "HTTP://127.0.0.1:8501"):
        with c.websocket_connect(ws_url, headers={"Origin": origin, **auth}) as ws:
            assert ws.receive_text() == "hello"
        assert c.put("/x/y", headers={"Origin": origin, **auth}).status_code == 200
    assert c.put("/x/y", headers=auth).status_code == 200
    plain_port = _app(token, base_url="http://localhost")
    assert plain_port.put("/x/y", headers={"Origin": "http://localhost:80", **auth}).status_code == 200


def test_the_origin_is_compared_with_the_requests_own_host_and_scheme():
    assert access.from_own_origin({"scheme": "wss", "headers": [(b"host", b"[::1]:8501"),
                                                                (b"origin", b"https://[::1]:8501")]})
    assert not access.from_own_origin({"scheme": "ws", "headers": [(b"origin", b"http://127.0.0.1:8501")]})
    assert not access.from_own_origin({"scheme": "ws", "headers": [(b"host", b"127.0.0.1:8501/x"),
                                                                   (b"origin", b"http://127.0.0.1:8501")]})
