"""Evaluate in a real browser: upload a prompt file, two targets, run, see the table, chart and grid."""

from __future__ import annotations

import pytest

from services.chat import DEFAULT_TARGET
from tests.e2e._app import (
    add_to_multiselect,
    assert_no_traceback,
    go_to,
    main_text,
    open_app,
    pick,
    screenshot,
    uploader,
    wait_idle,
)

pytestmark = pytest.mark.e2e

PROMPT_FILE = b"""name: e2e quiz
model: onnx:smollm2-135m-instruct
modelParameters: {maxTokens: 16, temperature: 0}
messages:
  - {role: user, content: "Say hello to {{who}}."}
testData:
  - {who: the stand-in, expected: stand-in}
  - {who: the world, expected: hello}
evaluators:
  - name: mentions
    string: {contains: "{{expected}}"}
"""
STANDIN = "openai:standin-echo"


def add_target(page, target: str) -> None:
    """Type a target into the sidebar's target list and pick it (retried if a rerun redrew the box)."""
    field = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").get_by_role("combobox")
    add_to_multiselect(page, field, target)
    page.keyboard.press("Escape")
    wait_idle(page)


def upload_prompt_file(page, app, name: str, content: bytes) -> None:
    """Open the Evaluate page and upload a prompt file under this name."""
    open_app(page, app)
    go_to(page, "Evaluate")
    page.get_by_text("Upload a file", exact=True).click()
    wait_idle(page)
    uploader(page, "A .prompt.yml file (GitHub Models format)").set_input_files(
        [{"name": name, "mimeType": "application/yaml", "buffer": content}])
    wait_idle(page)


def test_upload_two_targets_run_and_read_the_grid_and_chart(page, app):
    upload_prompt_file(page, app, "e2e.prompt.yml", PROMPT_FILE)
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect")
    # the file's model names a target of this app: it is proposed first
    assert "onnx:smollm2-135m-instruct" in box.inner_text()
    add_target(page, STANDIN)
    assert STANDIN in box.inner_text()
    page.get_by_role("button", name="▶ Run evaluation").click()
    page.get_by_role("button", name="⬇ Results CSV").wait_for(timeout=240_000)
    wait_idle(page)
    text = main_text(page)
    assert "Cases x targets" in text and "saved as run" in text
    # the per-target table, the grid, and the pass-rate chart with its interval bars
    assert page.get_by_test_id("stDataFrame").count() >= 3
    assert page.get_by_test_id("stVegaLiteChart").count() == 1
    # read one cell: the stand-in's answer and its verdict
    pick(page, "Target", STANDIN, within=page.get_by_test_id("stMainBlockContainer"))
    assert "Hello from the stand-in server." in main_text(page)
    assert_no_traceback(page)
    screenshot(page, "evaluate")


HOSTILE_FILE = b"""name: "<img src=x onerror=alert('name')> **bold**"
description: "[click](javascript:alert(1)) <script>alert('d')</script>"
model: openai:standin-xss
messages:
  - {role: user, content: "Say {{word}}"}
testData:
  - {word: "<svg/onload=alert(9)>"}
evaluators:
  - name: "<b onmouseover=alert(2)>x</b>"
    string: {contains: "{{word}}"}
"""


def test_hostile_file_and_answers_stay_text(page, app, exfil):
    from tests.e2e.test_security import HOSTILE_DOM

    upload_prompt_file(page, app, "<img src=x onerror=alert(3)>.prompt.yml", HOSTILE_FILE)
    assert "openai:standin-xss" in page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").inner_text()
    page.get_by_role("button", name="▶ Run evaluation").click()
    page.get_by_role("button", name="⬇ Results CSV").wait_for(timeout=120_000)
    wait_idle(page)
    page.get_by_text("<img src=x onerror=alert('name')>", exact=False).first.click()  # the file's expander
    wait_idle(page)
    # grouped by the column that holds markup: the table shows it as text
    pick(page, "Group results by a test-data column", "word", within=page.get_by_test_id("stMainBlockContainer"))
    assert "<svg/onload=alert(9)>" in page.get_by_test_id("stTable").inner_text()
    text = main_text(page)
    # shown as text a person can read, never as markup
    assert "<script>alert('s')</script>" in text and "<img src=x onerror=alert(1)>" in text
    assert page.dialogs == [] and page.evaluate(HOSTILE_DOM) == []
    page.wait_for_timeout(1000)
    assert exfil.requests == [], [r.path for r in exfil.requests]
    assert_no_traceback(page)


LANGUAGE_FILE = """name: e2e languages
model: openai:not-served
modelParameters: {maxTokens: 8, temperature: 0}
messages:
  - {role: user, content: "{{question}}"}
testData:
  - {language: English, question: What is 2 plus 2?, answer: 4}
  - {language: French, question: Combien font 2 plus 2 ?, answer: 4}
  - {language: Chinese, question: 2加2等于几？, answer: 4}
evaluators:
  - name: says-four
    string: {contains: "{{answer}}"}
""".encode()


def test_a_model_that_cannot_answer_is_said_and_results_group_by_language(page, app):
    upload_prompt_file(page, app, "languages.prompt.yml", LANGUAGE_FILE)
    # the file's model is not served here: the embedded model on the default runtime is chosen, and said
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect")
    assert DEFAULT_TARGET in box.inner_text()
    text = main_text(page)
    assert "The file's model openai:not-served (openai:not-served) cannot answer here" in text
    assert "the embedded model) is chosen instead" in text
    page.get_by_role("button", name="▶ Run evaluation").click()
    page.get_by_role("button", name="⬇ Results CSV").wait_for(timeout=240_000)
    wait_idle(page)
    pick(page, "Group results by a test-data column", "language", within=page.get_by_test_id("stMainBlockContainer"))
    grouped = page.get_by_test_id("stTable").filter(has_text="Chinese")
    grouped.wait_for(timeout=30_000)
    rows = [[c.inner_text().strip() for c in r.locator("th, td").all()] for r in grouped.locator("tbody tr").all()]
    assert [r[0] for r in rows] == ["English", "French", "Chinese"], rows
    assert all(r[1] == DEFAULT_TARGET and r[4] in ("0 / 1", "1 / 1") for r in rows), rows
    assert_no_traceback(page)
    screenshot(page, "evaluate-groups")
