"""Only the app's own pages reach it: a page on another port of this machine gets no websocket and no upload."""

from __future__ import annotations

import pytest

from services.conversations.import_export import export_json_text
from services.conversations.rows import NewMessage
from services.conversations.store import open_store
from tests.e2e._app import open_app, uploader, wait_idle
from tests.e2e.standin_targets import OtherOriginPage

pytestmark = pytest.mark.e2e


def conversation_export(texts: list[str], title: str = "") -> bytes:
    """A conversation export file, written by the app's own exporter, of these messages (user first)."""
    store = open_store(":memory:")
    conv = store.create_conversation(title)
    parent = None
    for n, text in enumerate(texts):
        parent = store.add_message(conv, NewMessage("user" if n % 2 == 0 else "assistant", text), parent_id=parent)
    return export_json_text(store, conv).encode()


def attack_from_another_port(context, app_url: str) -> tuple[dict, list[tuple[str, int]]]:
    """Open the other origin's page in `context` (with whatever cookies it holds) and wait for its tries:
    (what its script saw, the status of every response the app's server sent to it)."""
    with OtherOriginPage(app_url) as other:
        page = context.new_page()
        answered: list[tuple[str, int]] = []
        page.on("response", lambda r: answered.append((r.request.method, r.status))
                if r.url.startswith(app_url) else None)
        try:
            page.goto(other.root + "/", wait_until="domcontentloaded")
            page.wait_for_function("() => outcome.ws && outcome.put && outcome.post", timeout=60_000)
            outcome = page.evaluate("() => outcome")
        finally:
            page.close()
    return outcome, answered


def assert_refused(outcome: dict, answered: list[tuple[str, int]]) -> None:
    # the handshake was refused (1006: no connection was made), so no rerun could be asked and nothing read
    assert outcome["ws"].startswith("closed") and not outcome.get("received"), outcome
    # the PUT needs a CORS preflight, which the gate refuses, so it never leaves the browser
    assert outcome["put"] == "failed", outcome
    # what did reach the server (the form-like POST, any preflight) got 403
    assert answered and all(status == 403 for _, status in answered), answered


def test_another_local_port_gets_no_websocket_and_no_upload(page, app):
    outcome, answered = attack_from_another_port(page.context, app.url)
    assert_refused(outcome, answered)
    print(f"\nfrom another loopback port: websocket {outcome['ws']}, upload PUT {outcome['put']}, "
          f"responses {answered}")
    # the app's own page, in the same browser: connected, and its own upload goes through
    open_app(page, app)
    assert page.get_by_test_id("stApp").get_attribute("data-test-connection-state") == "CONNECTED"
    uploader(page, "Import a JSON export").set_input_files([
        {"name": "own.json", "mimeType": "application/json", "buffer": conversation_export(["hello from this page"])}])
    wait_idle(page)
    assert "Imported as a new conversation." in page.get_by_test_id("stSidebar").inner_text()
    assert "hello from this page" in page.get_by_test_id("stMainBlockContainer").inner_text()
