"""Markdown payload classes from every way text reaches the page: nothing is fetched, nothing live lands in the DOM.

The battery is tests/unit/test_safe_markdown.py's PAYLOADS (nested and escaped brackets, reference
and shortcut definitions, autolinks, angle-bracket destinations, entities, both fences and indented
code, unbalanced backticks, images inside links, Streamlit directives, LaTeX, raw HTML, tables)
aimed at a loopback listener. It arrives as a model answer, an imported conversation, a Compare
run file and a provider's error body. The app's Content-Security-Policy would block a fetch that
slipped through; the page fixture fails on any violation, so a renderer miss fails here even
though the listener stays silent.
"""

from __future__ import annotations

import json
import time

import pytest

from services.compare import runfile
from services.conversations.import_export import EXPORT_VERSION, FORMAT
from tests.e2e._app import (
    assert_no_traceback,
    chat,
    collect_csp_violations,
    go_to,
    main_text,
    open_app,
    pick_target,
    screenshot,
    wait_answer,
    wait_idle,
)
from tests.unit.test_safe_markdown import PAYLOADS, URL

pytestmark = pytest.mark.e2e

# anything in the app that would load by itself from elsewhere, run script, or act on an event
LIVE_DOM = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    const here = u => !u || u.startsWith(location.origin) || u.startsWith('data:') || u.startsWith('blob:');
    const bad = [];
    for (const el of app.querySelectorAll('*')) {
        for (const a of el.getAttributeNames()) {
            if (a.startsWith('on')) bad.push(el.tagName + '[' + a + ']');
            if (a === 'srcset') bad.push(el.tagName + ' srcset');
        }
        for (const a of ['href', 'src', 'action', 'formaction', 'xlink:href', 'data']) {
            const v = el.getAttribute(a) || '';
            if (/^\\s*(javascript|vbscript|data:text)/i.test(v)) bad.push(el.tagName + ' ' + a + '=' + v);
        }
    }
    for (const el of app.querySelectorAll('img, video, audio, source, track, input[type=image]')) {
        const u = el.currentSrc || el.src || '';
        if (!here(u)) bad.push(el.tagName + ' src=' + u);
    }
    for (const el of app.querySelectorAll('image, use, feImage')) {
        const u = el.getAttribute('href') || el.getAttribute('xlink:href') || '';
        if (u && !u.startsWith('#') && !here(new URL(u, location.href).href)) bad.push(el.tagName + ' href=' + u);
    }
    for (const el of app.querySelectorAll('script, iframe, frame, object, embed, base, meta, link')) {
        bad.push(el.tagName + ' ' + el.outerHTML.slice(0, 80));
    }
    return bad;
}"""


def battery(exfil_root: str) -> str:
    """Every payload class, aimed at the listener, as one markdown text."""
    # a fence opened mid-paragraph is never closed: last, so it does not turn the other classes into code
    items = sorted(PAYLOADS.items(), key=lambda kv: kv[0] == "fence not at line start")
    return "\n\n".join(f"{name}:\n\n{text}" for name, text in items).replace(URL, exfil_root + "/exfil")


def assert_nothing_live(page, exfil) -> None:
    assert page.dialogs == [], page.dialogs
    assert page.evaluate(LIVE_DOM) == []
    page.wait_for_timeout(1000)  # time for a stray fetch to arrive
    assert exfil.requests == [], [r.path for r in exfil.requests]
    assert_no_traceback(page)


def test_payloads_as_a_model_answer_and_after_a_reload(page, app, standin, exfil):
    standin.payload = battery(exfil.root)
    open_app(page, app)
    pick_target(page, "openai:standin-payload")
    # the question is the conversation's title too: a sidebar button label, which renders markdown
    chat(page, f"Show ![t]({exfil.root}/exfil?q=title) [x](javascript:alert(1)) <img src=x onerror=alert(7)>")
    wait_answer(page)
    answer = page.get_by_test_id("stChatMessage").last.inner_text()
    assert "[image not loaded: a [b] [c [d]] e]" in answer  # images become text a person can read
    assert "<img src=" in answer and "<script>alert(1)</script>" in answer  # HTML shows as text
    assert_nothing_live(page, exfil)
    screenshot(page, "markdown-payloads-chat")
    # a stored answer is rendered again on every visit
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stChatMessage']", timeout=120_000)
    wait_answer(page)
    assert_nothing_live(page, exfil)


def _export(exfil_root: str) -> dict:
    hostile = battery(exfil_root)
    title = f"![t]({exfil_root}/exfil?q=title) <img src={exfil_root}/exfil?q=t2> :red[x] $x$"
    return {
        "format": FORMAT, "schema_version": EXPORT_VERSION,
        "conversation": {"title": title, "target": "openai:standin-echo", "params": {}, "system": hostile},
        "messages": [
            {"id": 1, "parent": None, "role": "user", "content": hostile},
            {"id": 2, "parent": 1, "role": "assistant", "content": hostile, "target": f"![m]({exfil_root}/exfil)",
             "finish_reason": f"![f]({exfil_root}/exfil)", "notice": hostile[:10_000], "error": hostile[:10_000],
             "metrics": {"ttft_s": 0.1, "decode_tokens_per_s": 10.0, "prompt_tokens": 3, "completion_tokens": 4,
                         "total_s": 0.5}},
        ],
    }


def test_payloads_in_an_imported_conversation(page, app, exfil, tmp_path):
    path = tmp_path / "hostile-conversation.json"
    path.write_text(json.dumps(_export(exfil.root)))
    open_app(page, app)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stFileUploader").filter(has_text="Import a JSON export") \
        .get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    wait_idle(page)
    page.get_by_test_id("stChatMessage").nth(1).wait_for(timeout=60_000)
    wait_idle(page)
    assert "Imported as a new conversation." in sidebar.inner_text()
    # the title is a button label; it reads as written
    assert sidebar.get_by_role("button", name="<img src=").count() >= 1
    text = main_text(page)
    assert "[image not loaded: a [b] [c [d]] e]" in text
    assert_nothing_live(page, exfil)
    screenshot(page, "markdown-payloads-import")


def test_payloads_in_a_compare_run_file(page, app, exfil, tmp_path):
    hostile = battery(exfil.root)
    run = {
        "format": runfile.FORMAT, "version": runfile.VERSION, "prompt": hostile[:4000],
        "targets": [{"target": "openai:standin-echo"}, {"target": "openai:standin-xss"}],
        "results": [
            {"target": "openai:standin-echo", "status": "done", "text": hostile, "finish_reason": "stop",
             "metrics": {"ttft_s": 0.1, "decode_tokens_per_s": 12.0, "total_s": 0.4}},
            {"target": "openai:standin-xss", "status": "error", "text": hostile[:2000], "error": hostile[:10_000]},
        ],
    }
    runfile.loads(json.dumps(run))  # the file is valid: what follows tests rendering, not validation
    path = tmp_path / "hostile-run.json"
    path.write_text(json.dumps(run))
    open_app(page, app)
    go_to(page, "Compare")
    page.get_by_test_id("stExpander").filter(has_text="Load a run file").locator("summary").click()
    page.get_by_test_id("stFileUploader").filter(has_text="A run file exported") \
        .get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    wait_idle(page)
    page.get_by_role("button", name="Show its results").click()
    wait_idle(page)
    text = main_text(page)
    # the answer, the failed column's error card and what arrived before it failed: all read as text
    assert text.count("[image not loaded: a [b] [c [d]] e]") >= 3, text[:2000]
    assert_nothing_live(page, exfil)
    screenshot(page, "markdown-payloads-runfile")


def test_payloads_in_a_provider_error_body(page, app, standin, exfil):
    # error bodies are cut to 300 characters: the densest classes, one after another
    u = exfil.root + "/exfil"
    standin.payload = (f"![a [b]]({u}) ![c \\]]({u}) ![s] ``` ` ![d]({u}) <img src={u}> [j](javascript:x) "
                       f"&#33;[e]({u}) :red[![f]({u})]\n\n[s]: {u}")
    open_app(page, app)
    pick_target(page, "openai:standin-payload-error")
    chat(page, "Fail with a hostile body, please.")
    wait_answer(page)
    text = main_text(page)
    assert "400" in text and "image not loaded" in text
    assert_nothing_live(page, exfil)


def test_a_200_kb_hostile_answer_renders_quickly_while_another_session_is_answered(browser, app, standin, exfil):
    from ui.safe_markdown import sanitize

    block = battery(exfil.root)
    standin.payload = (block * (200_000 // len(block) + 1))[:200_000]
    start = time.perf_counter()
    sanitize(standin.payload)
    server_render = time.perf_counter() - start
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        a, b = ctx_a.new_page(), ctx_b.new_page()
        for pg, ctx in ((a, ctx_a), (b, ctx_b)):
            pg.dialogs = []
            collect_csp_violations(ctx, pg)
        open_app(a, app)
        open_app(b, app)
        pick_target(a, "openai:standin-payload")
        pick_target(b, "openai:standin-echo")
        sent = time.perf_counter()
        chat(a, "A long hostile answer, please.")
        # meanwhile the other session asks twice and must be answered each time
        b_answers = []
        for i in range(2):
            t = time.perf_counter()
            chat(b, f"Question {i + 1} from B")
            wait_answer(b)
            b_answers.append(time.perf_counter() - t)
        wait_answer(a, timeout_ms=300_000)
        a_answer = time.perf_counter() - sent
        assert b.get_by_test_id("stChatMessage").count() == 4
        # a stored 200 KB answer rendered from scratch: a reload until it is on screen
        t = time.perf_counter()
        a.reload(wait_until="domcontentloaded")
        a.get_by_test_id("stChatMessage").first.wait_for(timeout=120_000)
        question_shown = time.perf_counter()
        a.get_by_text("Shown without formatting").wait_for(timeout=120_000)
        a_reload = time.perf_counter() - t
        # the question above it arrives in the same script run: the gap is the long answer's own cost
        a_message = time.perf_counter() - question_shown
        wait_idle(a)
        print(f"\n200 KB hostile answer: renderer {server_render * 1000:.0f} ms in the server; streamed and shown in "
              f"{a_answer:.1f} s; a reload shows it in {a_reload:.1f} s ({a_message:.2f} s after the question above it); "
              "the other session's answers meanwhile: "
              + ", ".join(f"{s:.1f} s" for s in b_answers))
        for pg in (a, b):
            assert_nothing_live(pg, exfil)
            assert pg.csp_violations == [], pg.csp_violations
        # generous bounds: the figures above are what matters; these catch a freeze
        assert server_render < 5 and a_reload < 60 and max(b_answers) < 60
    finally:
        ctx_a.close()
        ctx_b.close()
