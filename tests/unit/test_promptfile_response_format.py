"""A prompt file's responseFormat/jsonSchema as the request's ResponseFormat: mapping, bad fields, the chat's
saved file read back, validity per answer in the results, and a target that cannot constrain (said, not sent).

Answers come from the loopback OpenAI stand-in (tests/standins); the target that cannot constrain is an
ONNX vision folder, which reports so from its genai_config.json without loading anything.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import yaml

from services import config
from services.errors import BadRequest
from services.evaluate import promptfile, results, sources
from services.evaluate.formats import refusal, refusals
from services.evaluate.runner import EvalSpec, run_eval
from services.structured import wire
from services.types import Capabilities, GenerationParams, ResponseFormat
from tests.standins.openai_sse import OpenAIStandIn, Reply

CITY = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"], "additionalProperties": False}

HEAD = """
name: cities
modelParameters: {maxTokens: 40, temperature: 0}
messages:
  - {role: user, content: "Give {{place}} as JSON."}
testData:
  - {place: Paris}
  - {place: Rome}
"""


def schema_file(schema=CITY, fmt: str = "json_schema") -> str:
    return HEAD + f"responseFormat: {fmt}\njsonSchema: '{json.dumps({'name': 'city', 'schema': schema})}'\n"


def test_json_schema_file_asks_every_case_under_that_schema():
    pf = promptfile.loads(schema_file())
    p = pf.params()
    # the file's jsonSchema name goes with the schema: OpenAI-style servers receive it as json_schema.name
    # strict as written: this file writes none, so none is sent
    assert p.response_format == ResponseFormat("json_schema", CITY, name="city", strict=None)
    assert (p.max_tokens, p.temperature) == (40, 0)
    # key order survives: grammars emit properties in the order the schema lists them
    assert list(p.response_format.schema["properties"]) == ["city", "population"]
    spec = EvalSpec.build(pf, ["openai:m-a"])
    assert spec.params.response_format == ResponseFormat("json_schema", CITY, name="city", strict=None)


@pytest.mark.parametrize("name,problem", [(7, "name must be text"), (None, "name must be text"),
                                          (["a"], "name must be text"), ("x" * 201, "at most 200")])
def test_a_schema_name_that_is_not_short_text_is_refused_with_the_field_named(name, problem):
    body = json.dumps({"name": name, "schema": CITY})
    with pytest.raises(BadRequest, match=re.escape(problem)) as err:
        promptfile.loads(HEAD + f"responseFormat: json_schema\njsonSchema: '{body}'\n")
    assert "jsonSchema's name" in err.value.user_message()


@pytest.mark.parametrize("fmt,kind", [("json_object", "json_object"), ("text", "text")])
def test_json_object_and_text_map_to_their_kind(fmt, kind):
    pf = promptfile.loads(HEAD + f"responseFormat: {fmt}\n")
    assert pf.params().response_format == ResponseFormat(kind)


def test_a_file_without_response_format_keeps_the_given_one_and_asks_text_by_default():
    pf = promptfile.loads(HEAD)
    assert pf.request_format is None and pf.params().response_format == ResponseFormat("text")
    base = GenerationParams(response_format="json_object")
    assert pf.params(base).response_format == ResponseFormat("json_object")
    # a file's own responseFormat wins over the base
    assert promptfile.loads(HEAD + "responseFormat: text\n").params(base).response_format.kind == "text"


def test_jsonschema_only_for_the_evaluator_does_not_constrain():
    # GitHub files may carry a jsonSchema for the jsonSchema evaluator with no responseFormat
    pf = promptfile.loads(HEAD + f"jsonSchema: '{json.dumps({'name': 'c', 'schema': CITY})}'\n")
    assert pf.schema == CITY and pf.params().response_format.kind == "text"


def deep(n: int) -> dict:
    node: dict = {"type": "object"}
    for _ in range(n):
        node = {"type": "object", "properties": {"a": node}}
    return node


BAD = [
    (HEAD + "responseFormat: [json_schema]\n", "responseFormat must be one of text, json_object, json_schema"),
    (HEAD + "responseFormat: json_schema\njsonSchema: [5]\n", "jsonSchema must be a string holding JSON."),
    (HEAD + "responseFormat: json_schema\njsonSchema: 5\n", "jsonSchema must be a JSON object with name"),
    (HEAD + "responseFormat: json_schema\njsonSchema: '[1, 2]'\n", "jsonSchema must be a JSON object with name"),
    (HEAD + "responseFormat: json_schema\njsonSchema: '{\"name\": \"c\", \"schema\": true}'\n",
     "jsonSchema's schema must be a JSON object"),
    (HEAD + "responseFormat: json_schema\njsonSchema: '{\"name\": \"c\", \"schema\": \"object\"}'\n",
     "jsonSchema's schema must be a JSON object"),
    (HEAD + "responseFormat: json_schema\njsonSchema: '{\"schema\": {\"type\": \"object\"}}'\n",
     "jsonSchema must contain a 'name' field"),
    (schema_file({"type": "strnig"}), "jsonSchema cannot be used: the JSON schema is not a valid JSON Schema"),
    (schema_file({"type": "object", "properties": {"p": {"type": "string", "pattern": 5}}}),
     "jsonSchema cannot be used: the JSON schema is not a valid JSON Schema"),
    (schema_file({"type": "object", "description": "x" * 70_000}),
     "jsonSchema cannot be used: the JSON schema is larger than 64 KiB; shorten it."),
    (schema_file(deep(70)), "jsonSchema cannot be used: the JSON schema nests deeper than 64 levels; flatten it."),
    (HEAD + "responseFormat: json_schema\njsonSchema: '" + "[" * 200_000 + "'\n",
     "jsonSchema nests too deeply to read; flatten it."),
    (HEAD + "responseFormat: json_schema\njsonSchema: '" + " " * 300_000 + "{}'\n",
     "jsonSchema is larger than 256 KiB; shorten it."),
    (HEAD + "jsonSchema: '{\"name\": \"c\", \"schema\": {\"type\": 3}}'\n", "jsonSchema cannot be used"),
    (HEAD + "jsonSchema: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "The prompt file nests too deeply to read"),
]


@pytest.mark.parametrize("text,sentence", BAD)
def test_bad_response_format_fields_are_one_sentence_naming_the_field(text, sentence):
    with pytest.raises(BadRequest) as err:
        promptfile.loads(text)
    message = err.value.user_message()
    assert sentence in message, message
    assert "\n" not in message and message.endswith(".") and len(message) < 400


def test_the_field_errors_keep_the_earlier_wrong_type_sentences():
    with pytest.raises(BadRequest, match=re.escape("needs a jsonSchema")):
        promptfile.loads(HEAD + "responseFormat: json_schema\n")
    with pytest.raises(BadRequest, match=re.escape("jsonSchema is not JSON")):
        promptfile.loads(HEAD + "responseFormat: json_schema\njsonSchema: '{not json'\n")


@pytest.mark.parametrize("fmt", [ResponseFormat("json_schema", CITY), ResponseFormat("json_object"),
                                 ResponseFormat("text")])
def test_a_chat_saved_as_a_prompt_file_reads_back_with_the_same_response_format(fmt):
    params = GenerationParams(temperature=0, max_tokens=64, response_format=fmt)
    text = sources.from_chat([("user", "Where is the Louvre?")], system="Reply in JSON.", params=params,
                             target="onnx:smollm2-135m-instruct")
    data = yaml.safe_load(text)
    if fmt.is_json:
        assert data["responseFormat"] == fmt.kind
    else:
        assert "responseFormat" not in data and "jsonSchema" not in data
    if fmt.kind == "json_schema":
        assert json.loads(data["jsonSchema"]) == {"name": "response", "strict": True, "schema": CITY}
    back = promptfile.loads(text).params()
    # the same request as the chat's: the name the chat sent (from the schema's title, else "response") is kept
    assert (back.response_format.kind, back.response_format.schema) == (fmt.kind, fmt.schema)
    assert wire.openai_response_format(back.response_format) == wire.openai_response_format(fmt)
    assert (back.temperature, back.max_tokens) == (0, 64)
    # written again, the same file
    assert promptfile.dumps(promptfile.loads(text)) == text


def test_refusal_says_which_target_and_what_to_do():
    caps = Capabilities(ignored_params=frozenset({"response_format"}))
    sentence = refusal("onnx:vision", caps, ResponseFormat("json_schema", CITY))
    assert sentence.startswith("onnx:vision cannot constrain its answers to a JSON schema")
    assert "responseFormat: text" in sentence
    assert refusal("onnx:vision", caps, ResponseFormat("text")) is None
    assert refusal("onnx:text", Capabilities(), ResponseFormat("json_object")) is None


def answers(body: dict) -> Reply:
    place = body["messages"][-1]["content"].split()[1]
    if place == "Rome":  # one answer that breaks the schema: population as text
        return Reply.text('{"city": "Rome", "population": "many"}')
    return Reply.text('{"city": "Paris", "population": 2102650}')


@pytest.fixture
def server():
    with OpenAIStandIn(models=("m-a",), answers=answers) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            yield srv


def test_each_answer_records_its_validity_and_the_server_gets_the_schema(server):
    text = schema_file() + "evaluators:\n  - {name: schema, jsonSchema: {}}\n"
    rec = results.record(run_eval(EvalSpec.build(promptfile.loads(text), ["openai:m-a"])))
    sent = [r.json["response_format"] for r in server.chat_requests]
    assert len(sent) == 2 and all(s["type"] == "json_schema" and s["json_schema"]["schema"] == CITY for s in sent)
    assert {s["json_schema"]["name"] for s in sent} == {"city"}  # the file's jsonSchema name, as written
    by_case = {t["case"]: t for t in rec["testResults"]}
    assert by_case[0]["schemaValid"] is True and by_case[0]["schemaError"] is None
    assert by_case[1]["schemaValid"] is False and "population" in by_case[1]["schemaError"]
    assert [by_case[c]["status"] for c in (0, 1)] == ["pass", "fail"]
    s = rec["summaries"]["openai:m-a"]
    assert (s["schemaValid"], s["schemaChecked"]) == (1, 2)
    assert rec["params"]["response_format"] == {"kind": "json_schema", "schema": CITY, "name": "city", "strict": None}
    assert all("strict" not in s["json_schema"] for s in sent)  # the file writes no strict: none is sent
    assert rec["refused"] == {}
    rows = list(csv.DictReader(io.StringIO(results.to_csv(rec))))
    assert [r["schema_valid"] for r in sorted(rows, key=lambda r: r["case"])] == ["True", "False"]
    # a re-run asks under the same format
    assert results.spec_from_record(rec).params.response_format == ResponseFormat("json_schema", CITY, name="city",
                                                                                  strict=None)


def test_a_text_run_records_no_validity(server):
    rec = results.record(run_eval(EvalSpec.build(promptfile.loads(HEAD), ["openai:m-a"])))
    assert all(t["schemaValid"] is None for t in rec["testResults"])
    assert rec["summaries"]["openai:m-a"]["schemaChecked"] == 0
    assert all("response_format" not in r.json for r in server.chat_requests)


def test_a_target_that_cannot_constrain_is_told_per_target_and_the_other_runs(server, tmp_path):
    vision = tmp_path / "phi3v-folder"
    vision.mkdir()
    (vision / "genai_config.json").write_text(json.dumps({"model": {"type": "phi3v", "context_length": 4096}}))
    target = f"onnx:{vision}"
    spec = EvalSpec.build(promptfile.loads(schema_file()), [target, "openai:m-a"])
    run = run_eval(spec)
    rec = results.record(run)
    mine = [t for t in rec["testResults"] if t["target"] == target]
    assert len(mine) == 2 and all(t["status"] == "error" and t["errorType"] == "FormatUnsupported" for t in mine)
    assert all(t["error"].startswith(f"{target} cannot constrain its answers to a JSON schema") for t in mine)
    assert list(rec["refused"]) == [target] and rec["refused"][target] == mine[0]["error"]
    assert rec["summaries"][target]["errors"] == 2
    others = [t for t in rec["testResults"] if t["target"] == "openai:m-a"]
    assert all(t["status"] != "error" and t["schemaValid"] is not None for t in others)
    assert results.gh_json(rec)["refused"] == rec["refused"]
    # under a text format the same folder is not refused
    assert refusals([target], ResponseFormat("text")) == {}
    assert refusals([target, "openai:m-a"], ResponseFormat("json_object")).keys() == {target}


def test_eval_cli_says_once_which_target_cannot_constrain(tmp_path, capsys):
    from services.__main__ import main

    vision = tmp_path / "phi3v-folder"
    vision.mkdir()
    (vision / "genai_config.json").write_text(json.dumps({"model": {"type": "phi3v"}}))
    path = tmp_path / "cities.prompt.yml"
    path.write_text(schema_file(), encoding="utf-8")
    # its cases are errors, and an error counts as a failed case: exit 1, as gh models eval exits on failures
    assert main(["eval", str(path), "--target", f"onnx:{vision}", "--no-store"]) == 1
    err = capsys.readouterr().err
    assert "every case is asked under responseFormat json_schema" in err
    assert err.count("cannot constrain its answers to a JSON schema") == 1
    assert "case 2: not sent (see above)" in err
