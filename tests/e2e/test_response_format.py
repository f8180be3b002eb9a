"""Structured output in a real browser: a pasted JSON schema constrains the answer, which shows a valid badge."""

from __future__ import annotations

import json

import pytest

from tests.e2e._app import (
    assert_no_traceback,
    chat,
    open_app,
    open_params,
    screenshot,
    set_number,
    slider_to_min,
    uploader,
    wait_answer,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
          "required": ["city", "country"]}


def choose_json_schema(page):
    """Pick JSON schema in the Parameters panel; return the sidebar (its schema box is now drawn)."""
    sidebar = page.get_by_test_id("stSidebar")
    open_params(page)
    sidebar.get_by_test_id("stRadio").get_by_text("JSON schema", exact=True).click()
    wait_idle(page)
    return sidebar


def paste_schema(page, sidebar, text: str) -> None:
    box = sidebar.get_by_label("Schema", exact=True)
    box.fill(text)
    box.press("Control+Enter")  # a text area commits on Ctrl+Enter (or when it loses focus)
    wait_idle(page)


def greedy_json_schema_chat(page, app):
    """Open Chat at temperature 0 with 64 tokens and JSON schema picked; return the sidebar."""
    open_app(page, app)
    open_params(page)
    set_number(page, "Max tokens", 64)
    slider_to_min(page, "Temperature")  # greedy, so the answer is the same every run
    return choose_json_schema(page)


def ask_eiffel_tower(page):
    """Ask where the Eiffel Tower is; return the answer's chat message and its text read as JSON."""
    chat(page, "Where is the Eiffel Tower?")
    wait_answer(page)
    answer = page.get_by_test_id("stChatMessage").nth(1)
    return answer, json.loads(answer.get_by_test_id("stMarkdownContainer").first.inner_text())


def test_a_pasted_schema_gives_json_with_the_valid_badge(page, app):
    sidebar = greedy_json_schema_chat(page, app)
    # JSON that is not a JSON Schema: one sentence, and the question cannot be sent
    paste_schema(page, sidebar, '{"type": 5}')
    assert "not a valid JSON Schema" in sidebar.get_by_test_id("stAlert").inner_text()
    assert page.get_by_test_id("stChatInput").locator("textarea").is_disabled()
    paste_schema(page, sidebar, json.dumps(SCHEMA, indent=2))
    assert sidebar.get_by_test_id("stAlert").count() == 0
    answer, data = ask_eiffel_tower(page)
    assert isinstance(data["city"], str) and isinstance(data["country"], str)
    assert "✅ valid JSON against the schema" in answer.inner_text()
    assert json.loads(sidebar.get_by_label("Schema", exact=True).input_value()) == SCHEMA  # still in the box
    assert page.dialogs == []
    assert_no_traceback(page)
    screenshot(page, "response_format")


def test_a_schema_file_fills_the_box_and_a_broken_one_says_why(page, app):
    open_app(page, app)
    sidebar = choose_json_schema(page)
    box = sidebar.get_by_label("Schema", exact=True)
    uploader(page, "Or load a schema file (.json)").set_input_files(
        [{"name": "city.json", "mimeType": "application/json", "buffer": json.dumps(SCHEMA).encode()}])
    wait_idle(page)
    assert json.loads(box.input_value()) == SCHEMA
    assert sidebar.get_by_test_id("stAlert").count() == 0
    # a file that is not UTF-8 text: one sentence, and the box keeps the schema it held
    uploader(page, "Or load a schema file (.json)").set_input_files(
        [{"name": "latin1.json", "mimeType": "application/json", "buffer": '{"title": "caf\u00e9"}'.encode("latin-1")}])
    wait_idle(page)
    assert "not UTF-8" in sidebar.get_by_test_id("stAlert").inner_text()
    assert json.loads(box.input_value()) == SCHEMA
    assert_no_traceback(page)


def test_a_pasted_openai_response_format_constrains_by_the_schema_inside(page, app):
    # what people copy from OpenAI or GitHub Models code: the wrapper alone would allow any JSON
    sidebar = greedy_json_schema_chat(page, app)
    wrapper = {"type": "json_schema", "json_schema": {"name": "place", "strict": True, "schema": SCHEMA}}
    paste_schema(page, sidebar, json.dumps(wrapper, indent=2))
    assert sidebar.get_by_test_id("stAlert").count() == 0
    answer, data = ask_eiffel_tower(page)
    assert set(data) == {"city", "country"} and all(isinstance(v, str) for v in data.values())
    assert "✅ valid JSON against the schema" in answer.inner_text()
    assert json.loads(sidebar.get_by_label("Schema", exact=True).input_value()) == wrapper  # as pasted
    assert_no_traceback(page)
    screenshot(page, "response_format_wrapper")
