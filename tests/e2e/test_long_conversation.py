"""A conversation of 10,000 messages opens on its latest messages; earlier ones come a page at a time."""

from __future__ import annotations

import time

import pytest

from services.conversations.import_export import MAX_IMPORT_MESSAGES
from tests.e2e._app import open_app, uploader, wait_idle
from tests.e2e.test_origins import conversation_export
from ui.conversation_list import PAGE_MESSAGES

pytestmark = pytest.mark.e2e


def test_a_10000_message_import_opens_on_its_latest_messages(page, app):
    texts = [f"message number {n} " + "word " * 20 for n in range(MAX_IMPORT_MESSAGES)]
    export = conversation_export(texts, "ten thousand messages")
    open_app(page, app)
    started = time.monotonic()
    uploader(page, "Import a JSON export").set_input_files([
        {"name": "long.json", "mimeType": "application/json", "buffer": export}])
    page.get_by_text(texts[-1].strip()).wait_for(timeout=120_000)
    wait_idle(page)
    imported_s = time.monotonic() - started
    messages = page.get_by_test_id("stChatMessage")
    assert messages.count() == PAGE_MESSAGES
    hidden = MAX_IMPORT_MESSAGES - PAGE_MESSAGES
    earlier = page.get_by_role("button", name=f"Show {PAGE_MESSAGES} earlier messages ({hidden:,} not shown)")
    started = time.monotonic()
    earlier.click()
    page.get_by_text(texts[-2 * PAGE_MESSAGES].strip()).wait_for(timeout=120_000)
    wait_idle(page)
    paged_s = time.monotonic() - started
    assert messages.count() == 2 * PAGE_MESSAGES
    # a page view from scratch: the conversation stays in the address (?c=)
    started = time.monotonic()
    page.reload(wait_until="domcontentloaded")
    page.get_by_text(texts[-1].strip()).wait_for(timeout=120_000)
    wait_idle(page)
    reload_s = time.monotonic() - started
    assert messages.count() == PAGE_MESSAGES
    print(f"\n{len(export) / 1e6:.1f} MB export of {MAX_IMPORT_MESSAGES:,} messages: imported and shown in "
          f"{imported_s:.1f} s; {PAGE_MESSAGES} earlier in {paged_s:.1f} s; a reload in {reload_s:.1f} s")
