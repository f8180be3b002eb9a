"""`eval` on a prompt file with responseFormat json_schema, on the embedded model: every answer is JSON that
the file's schema accepts, because decoding was constrained to it (a 135M model does not keep to a schema
by itself; the embedded model's three local runtimes), and the run records that validity per answer."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from services.__main__ import main

pytestmark = pytest.mark.integration

EMBEDDED = "onnx:smollm2-135m-instruct"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
          "required": ["city", "population"], "additionalProperties": False}

FILE = f"""
name: cities as JSON
modelParameters: {{maxTokens: 60, temperature: 0}}
responseFormat: json_schema
jsonSchema: '{json.dumps({"name": "city", "schema": SCHEMA})}'
messages:
  - {{role: system, content: "You answer with facts about cities."}}
  - {{role: user, content: "Tell me about {{{{place}}}}."}}
testData:
  - {{place: Paris}}
  - {{place: Tokyo}}
evaluators:
  - {{name: schema, jsonSchema: {{}}}}
"""


@pytest.mark.parametrize("target", [EMBEDDED, "llamacpp:smollm2-135m-instruct", "transformers:smollm2-135m-instruct"])
def test_eval_cli_constrains_every_answer_to_the_files_schema(embedded_paths, tmp_path, capsys, target):
    path = tmp_path / "cities.prompt.yml"
    path.write_text(FILE, encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["eval", str(path), "--target", target, "--json", str(out), "--no-store"]) == 0
    printed = capsys.readouterr()
    assert "responseFormat json_schema" in printed.err and "not applied" not in printed.err
    assert "valid under responseFormat json_schema: 2 of 2 answers" in printed.out
    data = json.loads(out.read_text())
    # the file writes no strict: none is sent (strict as written)
    assert data["params"]["response_format"] == {"kind": "json_schema", "schema": SCHEMA, "name": "city",
                                                 "strict": None}
    assert len(data["testResults"]) == 2 and data["refused"] == {}
    for t in data["testResults"]:
        answer = json.loads(t["modelResponse"])  # the whole answer, no fence, no prose around it
        Draft202012Validator(SCHEMA).validate(answer)
        assert t["schemaValid"] is True and t["schemaError"] is None
        assert [(r["evaluatorName"], r["passed"]) for r in t["evaluationResults"]] == [("schema", True)]
        assert t["status"] == "pass"
    print("\n" + "\n".join(t["modelResponse"] for t in data["testResults"]))
