"""Faults through the UI: a server that is down, rate-limited, slow or cut off gives a sentence to act on."""

from __future__ import annotations

import pytest

from tests.e2e._app import assert_no_traceback, chat, open_app, pick_target, wait_answer, wait_idle

pytestmark = pytest.mark.e2e


def _last_answer(page) -> str:
    return page.get_by_test_id("stChatMessage").last.inner_text()


def test_down_rate_limited_slow_and_cut_servers(page, app):
    open_app(page, app)
    msgs = page.get_by_test_id("stChatMessage")

    # down: nothing listens at the Azure endpoint
    pick_target(page, "azure:phi-down")
    chat(page, "Are you there?")
    wait_answer(page)
    answer = _last_answer(page)
    assert "Azure" in answer and ("reach" in answer or "running" in answer), answer
    assert_no_traceback(page)

    # rate-limited by a daily quota: says when it resets, and is not retried blindly
    pick_target(page, "openai:standin-quota")
    chat(page, "One more?")
    wait_answer(page)
    answer = _last_answer(page)
    assert "rate limit" in answer and "resets at" in answer, answer
    assert_no_traceback(page)

    # cut mid-answer: the partial text stays, marked incomplete
    pick_target(page, "openai:standin-cut")
    chat(page, "Tell me everything")
    wait_answer(page)
    answer = _last_answer(page)
    assert "This answer is cut" in answer and "incomplete" in answer, answer
    assert_no_traceback(page)

    # slow: words trickle in; Stop keeps what came and the page is free at once
    pick_target(page, "openai:standin-slow")
    n = msgs.count()
    chat(page, "Take your time")
    page.wait_for_function("() => document.body.innerText.includes('slowly slowly')", timeout=60_000)
    page.get_by_role("button", name="⏹ Stop").click()
    wait_answer(page)
    answer = _last_answer(page)
    assert msgs.count() == n + 2
    assert "slowly" in answer and "incomplete" in answer, answer
    assert answer.count("slowly") < 150
    assert_no_traceback(page)

    # and the page still works: the next question gets a whole answer
    pick_target(page, "openai:standin-echo")
    chat(page, "Still there?")
    wait_answer(page)
    assert "Hello from the stand-in server." in _last_answer(page)
    assert "incomplete" not in _last_answer(page)
    wait_idle(page)
    assert page.dialogs == []
