"""Evaluate in a real browser with a prompt file under responseFormat json_schema: the page says every case is
constrained, and each answer shows whether it is valid (the embedded model's is; the stand-in's text is not)."""

from __future__ import annotations

import json

import pytest

from tests.e2e._app import assert_no_traceback, main_text, pick, screenshot, wait_idle
from tests.e2e.test_evaluate import STANDIN, add_target, upload_prompt_file

pytestmark = pytest.mark.e2e

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
          "required": ["city", "population"]}
PROMPT_FILE = f"""name: e2e cities
model: onnx:smollm2-135m-instruct
modelParameters: {{maxTokens: 40, temperature: 0}}
responseFormat: json_schema
jsonSchema: '{json.dumps({"name": "city", "schema": SCHEMA})}'
messages:
  - {{role: user, content: "Tell me about {{{{place}}}}."}}
testData:
  - {{place: Paris}}
evaluators:
  - {{name: schema, jsonSchema: {{}}}}
""".encode()


def test_a_json_schema_file_is_constrained_and_each_answer_shows_its_validity(page, app):
    upload_prompt_file(page, app, "cities.prompt.yml", PROMPT_FILE)
    text = main_text(page)
    assert "every case is asked under constrained decoding" in text and "not applied" not in text
    add_target(page, STANDIN)
    page.get_by_role("button", name="▶ Run evaluation").click()
    page.get_by_role("button", name="⬇ Results CSV").wait_for(timeout=240_000)
    wait_idle(page)
    # the first target's answer (the embedded model, constrained) is valid
    text = main_text(page)
    assert "✓ valid under the response format" in text and '"population"' in text
    # the stand-in answers in prose whatever it is asked: shown as invalid, with the first problem
    pick(page, "Target", STANDIN, within=page.get_by_test_id("stMainBlockContainer"))
    text = main_text(page)
    assert "✗ not valid under the response format: The answer is not JSON" in text
    assert_no_traceback(page)
    screenshot(page, "evaluate-response-format")
