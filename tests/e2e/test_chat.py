"""Chat in a real browser: a question to the embedded model gets a streamed answer."""

from __future__ import annotations

import pytest

from tests.e2e._app import (
    assert_no_traceback,
    chat,
    main_text,
    open_app,
    open_params,
    screenshot,
    seen_texts,
    set_number,
    slider_to_min,
    wait_answer,
    watch_text,
)
from tests.fixtures.questions import CAPITAL

pytestmark = pytest.mark.e2e

ANSWER = "[data-testid='stChatMessage']:last-of-type [data-testid='stMarkdownContainer']"


def test_chat_streams_an_answer_from_the_embedded_model(page, app):
    open_app(page, app)
    assert page.get_by_role("heading", name="Chat").count() == 1
    open_params(page)
    set_number(page, "Max tokens", 48)
    slider_to_min(page, "Temperature")  # greedy, so the answer is the same every run
    chat(page, CAPITAL)  # one greedy answer on every CPU (tests/fixtures/questions.py)
    wait_answer(page)
    messages = page.get_by_test_id("stChatMessage")
    assert messages.count() == 2
    answer = messages.nth(1).inner_text()
    assert "Paris" in answer
    assert "tok/s" in answer  # the per-answer metrics line
    assert page.dialogs == []
    assert_no_traceback(page)
    screenshot(page, "chat")
    # the page keeps working: a follow-up in the same conversation, long enough to be seen streaming
    # (the page redraws every 0.1 s and llama.cpp says "Paris" in a tenth of that, so the short answer
    # can arrive in one piece on a fast machine; 160 tokens take half a second even at 300 tokens/s)
    set_number(page, "Max tokens", 160)
    watch_text(page, "[data-testid='stChatMessage']")
    chat(page, "Write a long story about a dragon who lives in Italy.")
    wait_answer(page)
    assert page.get_by_test_id("stChatMessage").count() == 4
    assert "Italy" in main_text(page)
    # streamed: the answer was on screen in pieces (with the typing cursor) before it was whole
    partial = [t for t in seen_texts(page) if "▌" in t]
    assert len(partial) >= 2, seen_texts(page)
    assert_no_traceback(page)
