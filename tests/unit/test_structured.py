"""Structured output services: schema text in, answers checked, wire shapes, grammar refusals."""

import json

import pytest

from services.errors import BadRequest
from services.structured import gbnf, guidance, wire
from services.structured.answers import check_answer
from services.structured.schema_input import MAX_SCHEMA_TEXT_BYTES, parse_schema_text, response_format_from
from services.types import ResponseFormat

PERSON = {"type": "object", "properties": {"city": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["city", "age"]}
FMT = ResponseFormat("json_schema", PERSON)


def one_sentence(message: str) -> bool:
    return message.endswith(".") and message.count(". ") == 0 and "Traceback" not in message


@pytest.mark.parametrize("text,words", [
    ("", "is empty"),
    ("   \n", "is empty"),
    ("{'type': 'object'}", "not valid JSON"),
    ('{"type": "object",}', "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("null", "not null"),
    ("42", "not int"),
    ('{"type": "strng"}', "not a valid JSON Schema"),
    ('{"properties": {"a": {"minimum": "zero"}}}', "at properties/a/minimum"),
    ("[" * 150_000 + "]" * 150_000, "larger than"),
    ("[" * 5000 + "]" * 5000, "nests too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b" " * (MAX_SCHEMA_TEXT_BYTES + 1), "larger than"),
    (3, "must be JSON text"),
    ('{"type": "json_schema", "json_schema": {"name": "x"}}', "holds no schema"),
    ('{"type": "json_schema", "json_schema": "x"}', "holds no schema"),
    ('{"name": "x", "schema": "{}"}', "that schema is not a JSON object"),
    ('{"name": "x", "strict": true, "schema": []}', "that schema is not a JSON object"),
], ids=lambda v: repr(v)[:24])
def test_bad_schema_text_gets_one_sentence(text, words):
    with pytest.raises(BadRequest, match=words) as err:
        parse_schema_text(text)
    assert one_sentence(str(err.value))


def test_schema_text_read_with_bom_and_kept_in_order():
    fmt = parse_schema_text(("\ufeff" + json.dumps(PERSON, indent=4)).encode("utf-8"))
    assert fmt == FMT and list(fmt.schema["properties"]) == ["city", "age"]


@pytest.mark.parametrize("pasted,name", [
    ({"name": "person", "schema": PERSON}, "person"),  # a prompt file's jsonSchema, GitHub's shape
    ({"name": "person", "strict": True, "schema": PERSON}, "person"),  # OpenAI's json_schema part
    ({"schema": PERSON, "description": "who and where"}, ""),
    ({"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}, "person"),  # whole format
], ids=["github", "openai-part", "no-name", "openai-whole"])
def test_a_pasted_wrapper_constrains_by_the_schema_inside_and_keeps_its_name(pasted, name):
    # each wrapper is itself a valid JSON Schema that allows anything; taken as it is it would constrain nothing
    fmt = parse_schema_text(json.dumps(pasted))
    assert (fmt.schema, fmt.name) == (PERSON, name)
    assert check_answer('{"city": "Paris"}', fmt).valid is False


def test_a_schema_that_merely_has_a_schema_property_is_taken_as_it_is():
    # an object schema whose data has a field called "schema": keywords beside it, so not a wrapper
    own = {"type": "object", "properties": {"schema": {"type": "string"}}, "schema": {"type": "string"}}
    assert parse_schema_text(json.dumps(own)).schema == own


def test_response_format_from_form_values():
    assert response_format_from(None).kind == "text"
    assert response_format_from("json-object").kind == "json_object"
    assert response_format_from("json_schema", json.dumps(PERSON)) == FMT
    with pytest.raises(BadRequest, match="needs a schema"):
        response_format_from("json_schema")
    with pytest.raises(BadRequest, match="must be one of"):
        response_format_from("xml")


def test_an_answer_cut_short_by_the_token_limit_is_named_as_such():
    cut = check_answer('{"city": "Par', FMT, token_limit=64)
    assert cut.valid is False and cut.error == ("The answer reached the 64-token limit before its JSON was "
                                                "complete; raise Max tokens.")
    # complete JSON that ran into the limit is checked against the schema as usual
    assert check_answer('{"city": "Paris"}', FMT, token_limit=64).error == "'age' is a required property"
    assert check_answer('{"city": "Paris", "age": 3}', FMT, token_limit=64).valid is True
    assert "empty" in check_answer("", FMT, token_limit=64).error


@pytest.mark.parametrize("text,valid,words", [
    ('{"city": "Paris", "age": 3}', True, ""),
    ('{"city":"Paris","age":3,"extra":[1]}', True, ""),
    ('{"city": "Paris", "age": "three"}', False, "age: 'three' is not of type 'integer'"),
    ('{"city": "Paris"}', False, "'age' is a required property"),
    ('{"city": "Par', False, "not JSON"),
    ("", False, "empty"),
    ("[1]", False, "is not of type 'object'"),
    ("[" * 100_000, False, ""),
], ids=lambda v: repr(v)[:24])
def test_answers_checked_against_the_schema(text, valid, words):
    check = check_answer(text, FMT)
    assert check.valid is valid and words in check.error
    assert len(check.error) <= 240


def test_text_answers_are_not_checked_and_any_object_is_one():
    assert check_answer("hello", ResponseFormat()).valid is None
    assert check_answer('{"a": 1}', ResponseFormat("json_object")).valid is True
    bad = check_answer("[1, 2]", ResponseFormat("json_object"))
    assert bad.valid is False and "not an object" in bad.error


def test_patterns_are_time_bounded_and_refs_never_fetched():
    slow = ResponseFormat("json_schema", {"type": "string", "pattern": "^(a|aa)+$"})
    check = check_answer(json.dumps("a" * 5000 + "b"), slow)
    assert check.valid is None and "cut off" in check.error  # neither valid nor invalid: never a hang
    remote = ResponseFormat("json_schema", {"$ref": "https://example.invalid/schema.json"})
    check = check_answer("{}", remote)
    assert check.valid is None and "not fetched" in check.error


def test_openai_and_ollama_shapes():
    assert wire.openai_response_format(ResponseFormat()) is None
    assert wire.openai_response_format(ResponseFormat("json_object")) == {"type": "json_object"}
    shaped = wire.openai_response_format(ResponseFormat("json_schema", {**PERSON, "title": "A person!"}))
    assert shaped["type"] == "json_schema" and shaped["json_schema"]["name"] == "A_person"
    # a name given with the format (a prompt file's jsonSchema.name) wins over the title, in OpenAI's alphabet
    named = ResponseFormat("json_schema", {**PERSON, "title": "A person!"}, name="city answer/v2")
    assert wire.openai_response_format(named)["json_schema"]["name"] == "city_answer_v2"
    assert wire.openai_response_format(ResponseFormat("json_schema", PERSON))["json_schema"]["name"] == "response"
    assert shaped["json_schema"]["strict"] is False  # open object: OpenAI's strict mode would refuse it
    closed = {**PERSON, "additionalProperties": False}
    assert wire.openai_response_format(ResponseFormat("json_schema", closed))["json_schema"]["strict"] is True
    assert wire.ollama_format(ResponseFormat()) is None
    assert wire.ollama_format(ResponseFormat("json_object")) == "json"
    assert wire.ollama_format(FMT) == PERSON


def test_guidance_closes_listed_objects_and_keeps_the_original():
    schema = guidance.grammar_schema(FMT)
    assert schema["additionalProperties"] is False and "additionalProperties" not in FMT.schema
    assert schema["x-guidance"]["whitespace_flexible"] is False
    opened = ResponseFormat("json_schema", {**PERSON, "additionalProperties": {"type": "integer"}})
    assert guidance.grammar_schema(opened)["additionalProperties"] == {"type": "integer"}
    assert guidance.grammar_schema(ResponseFormat("json_object"))["type"] == "object"


def test_grammar_refusals_name_the_runtime():
    remote = ResponseFormat("json_schema", {"$ref": "https://example.invalid/schema.json"})
    with pytest.raises(BadRequest, match="^ONNX Runtime GenAI cannot use this schema") as err:
        guidance.check_grammar(remote, "ONNX Runtime GenAI")
    assert str(err.value).endswith(".")
    assert guidance.check_grammar(FMT, "transformers")


@pytest.mark.parametrize("schema", [{"not": {"type": "string"}}, {"type": "string", "pattern": "(?=x)a"}])
def test_llamacpp_converter_refusals_are_sentences(schema):
    with pytest.raises(BadRequest, match="^llama.cpp cannot use this schema"):
        gbnf.gbnf_text(ResponseFormat("json_schema", schema))
    assert "root" in gbnf.gbnf_text(FMT) and "root" in gbnf.gbnf_text(ResponseFormat("json_object"))


@pytest.mark.parametrize("runtime,build", [
    ("llama.cpp", gbnf.gbnf_text),
    ("ONNX Runtime GenAI", lambda fmt: guidance.check_grammar(fmt, "ONNX Runtime GenAI")),
], ids=["gbnf", "llguidance"])
def test_refusal_of_a_remote_reference_says_what_to_do(runtime, build):
    remote = ResponseFormat("json_schema", {"$ref": "https://example.invalid/schema.json"})
    with pytest.raises(BadRequest) as err:
        build(remote)
    assert str(err.value) == (f"{runtime} cannot use this schema: it refers to another document by URL, which is "
                              "never fetched; put that part inside the schema.")


TREE = {"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                            "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                           "required": ["v"]}},
        "$ref": "#/$defs/node"}


@pytest.mark.parametrize("schema, ref", [(TREE, "#/$defs/node"), ({"anyOf": [{"type": "integer"}, {"$ref": "#"}]}, "#")],
                         ids=["ref-inside-a-definition", "ref-to-the-whole-schema"])
def test_a_reference_llamacpp_cannot_follow_is_named_and_llguidance_takes_it(schema, ref):
    fmt = ResponseFormat("json_schema", schema)
    with pytest.raises(BadRequest) as err:
        gbnf.gbnf_text(fmt)
    message = err.value.user_message()
    assert message.startswith("llama.cpp cannot use this schema") and repr(ref) in message and "transformers" in message
    assert guidance.check_grammar(fmt, "transformers")  # the other runtimes' engine follows it
