"""The CLI under --schema on the embedded model: chat prints schema_valid, compare prints it per result."""

import json
import os
import subprocess
import sys

import jsonschema
import pytest

pytestmark = pytest.mark.integration

CITY = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"]}
QUESTION = "What is the capital of France? Answer as JSON with city and country."


@pytest.fixture
def city_schema(tmp_path):
    path = tmp_path / "city.json"
    path.write_text(json.dumps(CITY, indent=2), encoding="utf-8")
    return str(path)


def test_chat_json_under_a_schema_prints_schema_valid(embedded_paths, city_schema, tmp_path):
    env = {**os.environ, "PHI_PLAYGROUND_DATA": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "services", "chat", "--target", "onnx:smollm2-135m-instruct",
                           "--schema", city_schema, "--temperature", "0", "--max-tokens", "60", "--json", QUESTION],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["schema_valid"] is True and "schema_error" not in result
    jsonschema.validate(json.loads(result["text"]), CITY)
    # the stored answer is the one printed, and a continued conversation keeps the schema
    proc = subprocess.run([sys.executable, "-m", "services", "chat", "--conversation", result["conversation_id"],
                           "--max-tokens", "60", "What is the capital of Italy?"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jsonschema.validate(json.loads(proc.stdout), CITY)
    assert "schema: valid" in proc.stderr.splitlines()


def test_compare_json_prints_schema_valid_per_result(embedded_paths, city_schema, capsys):
    from services.__main__ import main

    targets = ["onnx:smollm2-135m-instruct", "llamacpp:smollm2-135m-instruct"]
    rc = main(["compare", QUESTION, "--target", targets[0], "--target", targets[1], "--schema", city_schema,
               "--temperature", "0", "--max-tokens", "60", "--json"])
    assert rc == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["target"] for r in results] == targets
    for r in results:
        assert r["schema_valid"] is True and "schema_error" not in r, r
        assert r["metrics"]["schema_valid"] is True
        jsonschema.validate(json.loads(r["text"]), CITY)
