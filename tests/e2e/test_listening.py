"""Private by default: loopback bind, a refusal for an open bind without a token, and the token in use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e._app import ARTIFACTS, ROOT, AppServer, collect_csp_violations, free_port, open_app
from tests.e2e.test_csp import fetch
from web import access

pytestmark = pytest.mark.e2e

TOKEN = "e2e-token-" + "x7Kq2mV9pL4rT8wZ"
SENTENCE = "Listening on 0.0.0.0 needs a token: set PHI_PLAYGROUND_TOKEN"


def plain_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment a person starts the app with: a fresh data folder, no token unless given."""
    env = {k: v for k, v in os.environ.items() if k != access.TOKEN_ENV and not k.startswith("STREAMLIT_")}
    env.update(PHI_PLAYGROUND_DATA=str(tmp / "data"), PHI_PLAYGROUND_DB=str(tmp / "data" / "playground.db"),
               PHI_PLAYGROUND_MODELS=str(tmp / "models"), PHI_PLAYGROUND_SECRETS=str(tmp / "secrets.toml"),
               PYTHONUNBUFFERED="1", **extra)
    return env


def listening_addresses(port: int) -> list[str]:
    """Local addresses with a socket in LISTEN state on `port`, from /proc/net/tcp and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                raw = bytes.fromhex(addr)
                # the kernel writes each 32-bit word in host (little-endian) order
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words))
    return found


def fetch_as(url: str, host: str) -> tuple[int, dict[str, str], bytes]:
    """GET `url` with another name in the Host header, as a browser sends after a DNS rebinding."""
    req = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_the_default_bind_is_loopback_only(tmp_path):
    server = AppServer(plain_env(tmp_path), ARTIFACTS / "server-default-bind.log", address=None).start()
    try:
        # the kernel's own table: one listening socket, on 127.0.0.1 (nothing on 0.0.0.0 or another address)
        assert listening_addresses(server.port) == ["127.0.0.1"]
        # DNS rebinding: another site's name resolving to 127.0.0.1 gets nothing (nor does its websocket)
        status, _, body = fetch_as(server.url + "/", f"rebind.example:{server.port}")
        assert status == 403 and b"this machine only" in body
        assert fetch_as(server.url + "/", f"localhost:{server.port}")[0] == 200
        log = server.log()
        assert f"(this machine only): http://127.0.0.1:{server.port}" in log
        assert "Network URL" not in log and "External URL" not in log
        print(f"\nlistening on {listening_addresses(server.port)}")
    finally:
        server.stop()


def test_an_open_bind_without_a_token_refuses_to_start(tmp_path):
    port = free_port()
    out = subprocess.run([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                          "--server.address", "0.0.0.0", "--server.headless", "true"],
                         cwd=ROOT, env=plain_env(tmp_path), capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert SENTENCE in text and "--server.address 127.0.0.1" in text, text
    assert "Traceback" not in text and "Network URL" not in text, text
    assert listening_addresses(port) == []
    print("\nrefused with:", next(line for line in text.splitlines() if SENTENCE in line))


@pytest.fixture(scope="module")
def token_app(tmp_path_factory):
    env = plain_env(tmp_path_factory.mktemp("token-app"), **{access.TOKEN_ENV: TOKEN})
    server = AppServer(env, ARTIFACTS / "server-token.log", address="0.0.0.0").start()
    try:
        yield server
    finally:
        server.stop()


def test_with_a_token_every_request_and_the_websocket_need_it(token_app):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = token_app.url
    # loopback only: tests send no traffic to this machine's network addresses
    for base in [url, f"http://localhost:{token_app.port}"]:
        for path in ("/", "/_stcore/health", "/_stcore/host-config", "/favicon.png", "/media/x.png",
                     f"/?token={TOKEN[:-1]}X"):
            status, headers, body = fetch(base + path)
            assert status == 401, (base, path, status)
            assert b"needs its access token" in body and "content-security-policy" in headers
        assert fetch(base + "/_stcore/upload_file/s/f", "PUT")[0] == 401
    with pytest.raises(InvalidStatus) as refused, connect(url.replace("http", "ws") + "/_stcore/stream"):
        pass
    assert refused.value.response.status_code == 403
    ok = urllib.request.Request(url + "/_stcore/health", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(ok, timeout=10) as r:
        assert r.read() == b"ok"
    assert f"/?token={TOKEN}" in token_app.log()  # the login URL, as Jupyter prints it
    print("\n401 without the token on 127.0.0.1 and localhost, websocket 403, Bearer 200")


def test_with_a_token_the_page_works_after_opening_the_login_url(browser, token_app):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        collect_csp_violations(context, page)
        open_app(page, token_app, f"?token={TOKEN}")
        # logged in: the token left the address bar, the websocket is up, the page ran
        assert page.url.rstrip("/") == token_app.url
        assert page.get_by_test_id("stApp").get_attribute("data-test-connection-state") == "CONNECTED"
        assert "Chat" in page.get_by_test_id("stSidebarNav").inner_text()
        cookie = next(c for c in context.cookies() if c["name"] == access.COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector("[data-testid='stMainBlockContainer'] h1")
        assert page.csp_violations == []
    finally:
        context.close()
    stranger = browser.new_context()
    try:
        page = stranger.new_page()
        response = page.goto(token_app.url + "/vision")
        assert response.status == 401 and "needs its access token" in page.inner_text("body")
    finally:
        stranger.close()


def test_with_a_token_another_port_is_refused_even_with_the_cookie(browser, token_app):
    from tests.e2e.test_origins import assert_refused, attack_from_another_port

    context = browser.new_context()
    try:
        page = context.new_page()
        open_app(page, token_app, f"?token={TOKEN}")  # logged in: the browser holds the cookie
        # cookies are not bound to a port: the other page's requests carry it, and the origin check stops them
        outcome, answered = attack_from_another_port(context, token_app.url)
        assert_refused(outcome, answered)
        page.reload(wait_until="domcontentloaded")
        page.wait_for_selector("[data-testid='stMainBlockContainer'] h1")
        assert page.get_by_test_id("stApp").get_attribute("data-test-connection-state") == "CONNECTED"
    finally:
        context.close()
