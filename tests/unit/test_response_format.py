"""ResponseFormat validation: kinds, schemas, bounds, round trips through GenerationParams."""

import pytest

from services.errors import BadRequest
from services.types import SCHEMA_MAX_DEPTH, GenerationParams, ResponseFormat

PERSON = {"type": "object", "properties": {"city": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["city", "age"]}


def test_default_is_text():
    p = GenerationParams()
    assert p.response_format == ResponseFormat("text") and not p.response_format.is_json


@pytest.mark.parametrize("value,kind", [("json_object", "json_object"), (" TEXT ", "text"), (None, "text"),
                                        ({"kind": "json_schema", "schema": PERSON}, "json_schema")])
def test_coerced_from_plain_values(value, kind):
    assert GenerationParams(response_format=value).response_format.kind == kind


def test_round_trip_keeps_key_order_and_hashes():
    p = GenerationParams(temperature=0, response_format=ResponseFormat("json_schema", PERSON))
    back = GenerationParams.from_dict(p.to_dict())
    assert back == p and hash(back) == hash(p)
    assert list(back.response_format.schema["properties"]) == ["city", "age"]


def test_a_named_schema_round_trips_and_differs_from_the_unnamed_one():
    named = ResponseFormat("json_schema", PERSON, name="person")
    p = GenerationParams(response_format=named)
    back = GenerationParams.from_dict(p.to_dict())
    assert back.response_format == named and hash(back) == hash(p)
    assert named != ResponseFormat("json_schema", PERSON)
    # no name: the stored dict is the one older records hold
    assert ResponseFormat("json_schema", PERSON).to_dict() == {"kind": "json_schema", "schema": PERSON}


@pytest.mark.parametrize("kind,schema,name,words", [
    ("json_schema", PERSON, 7, "name must be text"),
    ("json_schema", PERSON, "n" * 201, "at most 200 characters"),
    ("text", None, "person", "needs response_format json_schema"),
    ("json_object", None, "person", "needs response_format json_schema"),
])
def test_a_bad_schema_name_gets_one_sentence(kind, schema, name, words):
    with pytest.raises(BadRequest, match=words):
        ResponseFormat(kind, schema, name=name)


def test_schema_is_a_private_copy():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    rf = ResponseFormat("json_schema", schema)
    schema["properties"]["a"]["type"] = "integer"
    assert rf.schema["properties"]["a"]["type"] == "string"


@pytest.mark.parametrize("kind,schema,words", [
    ("yaml", None, "response_format must be one of"),
    ("json_schema", None, "needs a JSON schema"),
    ("json_schema", "{\"type\": \"object\"}", "needs a JSON schema"),
    ("json_schema", ["type"], "needs a JSON schema"),
    ("json_object", PERSON, "needs response_format json_schema"),
    ("text", PERSON, "needs response_format json_schema"),
    ("json_schema", {"type": "strng"}, "not a valid JSON Schema"),
    ("json_schema", {"type": "object", "properties": {"a": {"type": 3}}}, "at properties/a/type"),
    ("json_schema", {"type": "object", "required": "city"}, "not a valid JSON Schema"),
    ("json_schema", {"minimum": float("nan")}, "NaN"),
    ("json_schema", {"const": {1, 2}}, "not JSON"),
    ("json_schema", {"const": {1: "a"}}, "keys must all be text"),
])
def test_bad_formats_get_one_sentence(kind, schema, words):
    with pytest.raises(BadRequest, match=words) as err:
        ResponseFormat(kind, schema)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")


def deep(n):
    s = {"type": "string"}
    for _ in range(n):
        s = {"type": "array", "items": s}
    return s


def test_depth_bound_stated_and_enforced():
    ResponseFormat("json_schema", deep(SCHEMA_MAX_DEPTH // 2 - 1))
    with pytest.raises(BadRequest, match=f"deeper than {SCHEMA_MAX_DEPTH}"):
        ResponseFormat("json_schema", deep(5000))  # no RecursionError: the walk is iterative


def test_size_and_node_bounds():
    wide = {"type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(3000)}}
    with pytest.raises(BadRequest, match="KiB"):
        ResponseFormat("json_schema", wide)
    many = {"enum": list(range(30000))}
    with pytest.raises(BadRequest, match="parts"):
        ResponseFormat("json_schema", many)


@pytest.mark.parametrize("value", [3, ["json_object"], {"kind": "json_object", "strict": True}, True])
def test_wrong_types_for_the_field(value):
    with pytest.raises(BadRequest, match="response_format"):
        GenerationParams(response_format=value)


def test_boolean_schema_refused_but_empty_object_allowed():
    with pytest.raises(BadRequest):
        ResponseFormat("json_schema", True)
    assert ResponseFormat("json_schema", {}).schema == {}
