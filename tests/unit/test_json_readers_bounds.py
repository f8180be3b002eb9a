"""Every reader of untrusted JSON (files, pasted schemas, model answers) meets the two inputs Python's own
parser raises on outside JSONDecodeError: an integer past 4300 digits (ValueError) and nesting thousands
deep (RecursionError). Each must answer with one sentence, never a raw exception."""

import json

import pytest

from services.errors import BadRequest
from services.types import ResponseFormat

LONG_NUMBER = "1" + "0" * 5000
DEEP = "[" * 100_000 + "]" * 100_000
OBJECT_SCHEMA = {"type": "object"}


def _prompt_file_with_schema(schema_text: str) -> str:
    return ("name: t\nmessages:\n  - role: user\n    content: hi\nresponseFormat: json_schema\n"
            f"jsonSchema: {json.dumps(schema_text)}\n")


def _prompt_file_with_evaluator_schema(schema_text: str) -> str:
    return ("name: t\nmessages:\n  - role: user\n    content: hi\nevaluators:\n  - name: shape\n"
            f"    jsonSchema:\n      schema: {json.dumps(schema_text)}\n")


def read_pasted_schema(text):
    from services.structured.schema_input import parse_schema_text

    parse_schema_text(text)


def read_prompt_file(text):
    from services.evaluate.promptfile import loads

    loads(text)


def read_jsonl_rows(text):
    from services.evaluate.sources import rows_from_jsonl

    rows_from_jsonl(text)


def read_problem_set(text):
    from services.evaluate.problem_set import parse_problems

    parse_problems(text)


READERS = [
    (read_pasted_schema, '{"maxLength": %s}' % LONG_NUMBER),
    (read_pasted_schema, '{"a": %s}' % DEEP),
    (read_prompt_file, "name: t\nmodelParameters:\n  maxTokens: %s\nmessages:\n  - role: user\n    content: hi\n"
     % LONG_NUMBER),
    (read_prompt_file, _prompt_file_with_schema('{"type": "object", "maxProperties": %s}' % LONG_NUMBER)),
    (read_prompt_file, _prompt_file_with_schema('{"a": %s}' % DEEP)),
    (read_prompt_file, _prompt_file_with_evaluator_schema('{"maxLength": %s}' % LONG_NUMBER)),
    (read_prompt_file, _prompt_file_with_evaluator_schema('{"a": %s}' % DEEP)),
    (read_jsonl_rows, '{"n": %s}\n' % LONG_NUMBER),
    (read_jsonl_rows, '{"n": %s}\n' % DEEP),
    (read_problem_set, '{"id": "p1", "question": "q", "answer": %s}\n' % LONG_NUMBER),
    (read_problem_set, '{"id": "p1", "question": "q", "answer": %s}\n' % DEEP),
]


@pytest.mark.parametrize("reader, text", READERS, ids=lambda v: getattr(v, "__name__", None) or str(len(v)))
def test_each_reader_answers_with_one_sentence(reader, text):
    with pytest.raises(BadRequest) as err:
        reader(text)
    message = err.value.user_message()
    assert message.endswith(".") and "Traceback" not in message and len(message) < 400


@pytest.mark.parametrize("answer", [LONG_NUMBER, '{"a": %s}' % LONG_NUMBER, DEEP])
def test_a_model_answer_that_json_cannot_hold_is_invalid_not_an_exception(answer):
    from services.evaluate.checks import json_check, schema_check
    from services.structured.answers import check_answer

    checked = check_answer(answer, ResponseFormat("json_schema", OBJECT_SCHEMA))
    assert checked.valid is False and checked.error.endswith(".")
    for verdict in (json_check(answer), schema_check(OBJECT_SCHEMA, answer)):  # the evaluators' own reading
        assert verdict.passed is False and "Not valid JSON" in verdict.details


def test_a_schema_holding_a_number_json_cannot_write_is_one_sentence():
    with pytest.raises(BadRequest) as err:
        ResponseFormat("json_schema", {"maxLength": 10**5000})
    assert "number too long" in err.value.user_message()
