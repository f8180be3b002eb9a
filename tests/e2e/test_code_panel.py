"""The Code panel in a real browser: empty before the first question, then the script for it, downloadable."""

from __future__ import annotations

import pytest

from tests.e2e._app import (
    assert_no_traceback,
    chat,
    download,
    open_app,
    open_params,
    screenshot,
    set_number,
    slider_to_min,
    wait_answer,
)

pytestmark = pytest.mark.e2e

QUESTION = 'What is the capital of France? Say """Paris""" {now}.'


def code_expander(page):
    exp = page.get_by_test_id("stMainBlockContainer").get_by_test_id("stExpander").filter(has_text="Code").first
    if exp.locator("details").get_attribute("open") is None:
        exp.locator("summary").click()
        page.wait_for_timeout(200)
    return exp


def test_code_panel_shows_and_downloads_the_last_request(page, app, canaries):
    open_app(page, app)
    assert "No request yet" in code_expander(page).inner_text()
    open_params(page)
    set_number(page, "Max tokens", 16)
    slider_to_min(page, "Temperature")
    chat(page, QUESTION)
    wait_answer(page)
    panel = code_expander(page)
    # the default target runs on llama.cpp (services/models/measured.py DEFAULT_RUNTIME)
    panel.get_by_text("from llama_cpp import Llama").wait_for()
    shown = panel.inner_text()
    assert "Runtime: llama.cpp" in shown
    assert "What is the capital of France?" in shown
    got = download(page, panel.get_by_role("button", name="Download chat_llamacpp.py"))
    assert got.suggested_filename == "chat_llamacpp.py"
    script = open(got.path(), encoding="utf-8").read()
    compile(script, "chat_llamacpp.py", "exec")
    assert repr(QUESTION) in script  # the question as a Python literal, quotes and braces intact
    assert "'temperature': 0," in script or "'temperature': 0.0," in script  # greedy, as asked
    for key in canaries.values():
        assert key not in script and key not in page.content()
    assert_no_traceback(page)
    # the same request for another runtime of the embedded model: ONNX Runtime GenAI's script, same question
    panel.get_by_test_id("stRadio").get_by_text("onnx:smollm2-135m-instruct", exact=True).click()
    panel.get_by_text("import onnxruntime_genai as og").wait_for()
    shown = panel.inner_text()
    assert "Runtime: ONNX Runtime GenAI" in shown and "What is the capital of France?" in shown
    assert_no_traceback(page)
    screenshot(page, "code_panel")
