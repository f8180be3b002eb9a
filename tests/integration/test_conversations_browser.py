"""In a real browser against `streamlit run`: Stop keeps the partial answer, and a killed server loses nothing."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from services.conversations.rows import StoredMessage
from services.conversations.store import Store
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
CHROMIUM = "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free loopback port, waiting for /_stcore/health."""
    port = free_port()
    env = {**os.environ, "PHI_PLAYGROUND_DB": str(db)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("streamlit did not start")


def wait_for(check, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def answers(db) -> list[StoredMessage]:
    s = Store(db)
    try:
        return [m for c in s.list_conversations() for m in s.messages(c.id) if m.role == "assistant"]
    finally:
        s.close()


def ask(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def test_stop_and_kill_keep_partial_answers(tmp_path, embedded_paths):
    db = tmp_path / "browser.db"
    proc, url = serve(db)
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page()
            page.goto(url)
            page.get_by_test_id("stChatInputTextArea").wait_for(timeout=90_000)
            ask(page, "Write a long story about a dragon who learns to bake bread.")
            stop = page.get_by_role("button", name="Stop")
            stop.wait_for(timeout=90_000)
            wait_for(lambda: any(len(a.content) > 30 for a in answers(db)))
            stop.click()
            page.get_by_text("this answer is incomplete").wait_for(timeout=60_000)
            (first,) = answers(db)
            assert first.finish_reason == "cancelled" and first.content

            # a second question, and the server is killed while it answers
            ask(page, "Now tell a long story about a knight and a lighthouse.")
            wait_for(lambda: len(answers(db)) == 2 and len(answers(db)[1].content) > 30)
            conv = page.url.split("c=")[1].split("&")[0]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

            proc, url = serve(db)
            page.goto(f"{url}/?c={conv}")
            page.get_by_text("Now tell a long story").wait_for(timeout=90_000)
            # both stored answers come back marked incomplete (the page may still be drawing the second)
            wait_for(lambda: page.get_by_text("this answer is incomplete").count() == 2, timeout=60)
            browser.close()
        s = Store(db)
        assert s.integrity_check() == "ok"
        second = answers(db)[1]
        assert second.finish_reason == "incomplete" and len(second.content) > 30
        s.close()
    finally:
        proc.kill()
        proc.wait()
