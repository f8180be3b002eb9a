"""Load: several browser sessions ask the embedded model at once; all answer, one model, no history bleed.

The issue asks for 20 sessions; on the 2-core CI machine 20 chromium renderers plus the server
would take most of the suite's time budget, so LOAD_SESSIONS (default 8) sets the number; the
figures measured with it are in docs/testing.md.
"""

from __future__ import annotations

import os
import time

import pytest

from services.models import embedded
from tests.e2e._app import assert_no_traceback, chat, open_app, open_params, set_number, wait_answer

pytestmark = pytest.mark.e2e

SESSIONS = int(os.environ.get("LOAD_SESSIONS", "8"))
COUNTRIES = ["France", "Italy", "Spain", "Germany", "Japan", "Egypt", "Canada", "Peru", "Kenya", "Chile",
             "Norway", "Greece", "India", "Brazil", "Mexico", "Poland", "Turkey", "Cuba", "Iran", "Fiji"]


def test_concurrent_sessions_all_answer_with_one_model_and_no_history_bleed(browser, app):
    weights = embedded.gguf_path()  # the default target runs on llama.cpp, which maps the GGUF
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(SESSIONS + 1)]
    try:
        pages = [c.new_page() for c in contexts]
        # warm-up in a session of its own, so the model is loaded before the crowd arrives
        warm = pages.pop(0)
        open_app(warm, app)
        open_params(warm)
        set_number(warm, "Max tokens", 12)
        chat(warm, "Say hello.")
        wait_answer(warm)
        maps_before, rss_before = app.mappings_of(weights), app.rss_mb()
        assert maps_before > 0, "the embedded GGUF is not loaded in the server"

        for pg in pages:  # load every page at once, then finish setting each up
            pg.goto(app.url, wait_until="domcontentloaded")
        for pg in pages:
            open_app(pg, app)
            open_params(pg)
            set_number(pg, "Max tokens", 24)
        questions = [f"What is the capital of {COUNTRIES[i % len(COUNTRIES)]}?" for i in range(SESSIONS)]
        started = time.monotonic()
        for pg, q in zip(pages, questions, strict=True):
            chat(pg, q)  # all sent before any answer is awaited: the server runs them side by side
        for pg in pages:
            wait_answer(pg, timeout_ms=300_000)
        seconds = time.monotonic() - started
        maps_after, rss_after = app.mappings_of(weights), app.rss_mb()

        for i, (pg, q) in enumerate(zip(pages, questions, strict=True)):
            msgs = pg.get_by_test_id("stChatMessage")
            assert msgs.count() == 2, f"session {i}: {msgs.all_inner_texts()}"
            assert q in msgs.nth(0).inner_text()
            answer = msgs.nth(1).inner_text()
            assert "tok/s" in answer and "finish: incomplete" not in answer, answer
            # what this session shows holds its own question only, never another session's
            shown = " ".join(msgs.all_inner_texts())
            others = [o for o in questions if o != q and o in shown]
            assert others == [], f"session {i} shows {others}"
            assert_no_traceback(pg)
        # the weights are mapped exactly as often as after the first load: no session loaded its own copy
        assert maps_after == maps_before
        print(f"\nload: {SESSIONS} browser sessions answered in {seconds:.1f} s; server RSS "
              f"{rss_before:.0f} MB -> {rss_after:.0f} MB ({rss_after - rss_before:+.0f} MB); "
              f"model weights mapped {maps_after} times, as after one load")
    finally:
        for c in contexts:
            c.close()
