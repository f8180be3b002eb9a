"""A JSON Schema's patterns run under a time limit wherever model output is checked: the evaluator and the chat."""

from __future__ import annotations

import json

import pytest

from services import config
from services.evaluate import checks, promptfile
from services.evaluate.runner import EvalSpec, run_eval
from services.structured.answers import check_answer
from services.structured.bounded_schema import VALIDATION_BUDGET_S, Budget, PatternCutOff, iter_errors
from services.types import ResponseFormat
from tests.standins.openai_sse import OpenAIStandIn, Reply

# patterns that backtrack without end in a plain engine, and a value each one stalls on
CATASTROPHIC = [
    ("^(a|a)*$", "a" * 31 + "!"),
    ("^(a|aa)+$", "a" * 5000 + "!"),
    ("(x+x+)+y", "x" * 5000),
]


def schemas(pattern: str) -> dict[str, dict]:
    """The pattern in each keyword that runs it on an answer."""
    return {
        "pattern": {"type": "object", "properties": {"v": {"type": "string", "pattern": pattern}}},
        "patternProperties": {"type": "object", "patternProperties": {pattern: {"type": "integer"}}},
        "additionalProperties": {"type": "object", "patternProperties": {pattern: {}},
                                 "additionalProperties": False},
        "propertyNames": {"type": "object", "propertyNames": {"pattern": pattern}},
    }


def answer(keyword: str, value: str) -> str:
    return json.dumps({"v": value} if keyword == "pattern" else {value: "x"})


@pytest.mark.parametrize("pattern,value", CATASTROPHIC)
@pytest.mark.parametrize("keyword", list(schemas("x")))
def test_a_catastrophic_pattern_is_cut_off_with_a_sentence(keyword, pattern, value):
    schema = schemas(pattern)[keyword]
    verdict = checks.schema_check(schema, answer(keyword, value))
    assert verdict.status == "unscored" and "was cut off" in verdict.details, verdict
    chat = check_answer(answer(keyword, value), ResponseFormat("json_schema", schema))
    assert chat.valid is None and "was cut off" in chat.error, chat


def test_the_issues_pattern_finishes_and_decides():
    # ^(a+)+$ on 29 a's and a "!" held a plain engine 26 s; the regex package decides it at once
    schema = {"type": "string", "pattern": "^(a+)+$"}
    assert checks.schema_check(schema, json.dumps("a" * 29 + "!")).status == "fail"
    assert checks.schema_check(schema, json.dumps("a" * 29)).status == "pass"


def test_many_slow_strings_share_one_budget():
    """Each value under the per-pattern limit still adds up: one validation stops at its total budget."""
    schema = {"type": "array", "items": {"type": "string", "pattern": "^(a|aa)+$"}}
    budget = Budget()
    with pytest.raises(PatternCutOff, match="was cut off"):
        list(iter_errors(schema, ["a" * 26 + "!"] * 500, budget=budget))
    assert budget.seconds == VALIDATION_BUDGET_S


def test_ordinary_patterns_still_decide():
    schema = {"type": "object", "patternProperties": {"^x_": {"type": "integer"}}, "additionalProperties": False,
              "properties": {"name": {"type": "string", "pattern": "^[A-Z][a-z]+$"}}}
    assert checks.schema_check(schema, '{"name": "Paris", "x_1": 2}').passed
    assert "first at x_1" in checks.schema_check(schema, '{"name": "Paris", "x_1": "two"}').details
    assert "not allowed" in checks.schema_check(schema, '{"name": "Paris", "y": 2}').details
    assert "does not match" in checks.schema_check(schema, '{"name": "paris"}').details


def test_unevaluated_properties_with_pattern_properties_is_not_checked_in_a_sentence():
    schema = {"type": "object", "patternProperties": {"^x": {}}, "unevaluatedProperties": False}
    verdict = checks.schema_check(schema, '{"xa": 1}')
    assert verdict.status == "unscored" and "unevaluatedProperties" in verdict.details


def test_a_prompt_file_evaluator_with_a_catastrophic_pattern_runs_to_the_end():
    pattern, value = CATASTROPHIC[0]
    schema = json.dumps({"name": "r", "schema": {"type": "object", "properties": {"v": {"pattern": pattern}}}})
    text = (f"jsonSchema: {json.dumps(schema)}\nmessages:\n  - {{role: user, content: Answer.}}\n"
            "testData:\n  - {case: one}\nevaluators:\n  - {name: shape, jsonSchema: {}}\n  - {name: has, string: {contains: a}}\n")
    with OpenAIStandIn(models=("m",), answers=lambda body: Reply.text(json.dumps({"v": value}))) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            run = run_eval(EvalSpec.build(promptfile.loads(text), ["openai:m"]))
    (trial,) = run.trials
    got = {r["evaluatorName"]: (r["status"], r["details"]) for r in trial.results}
    assert got["shape"][0] == "unscored" and "was cut off" in got["shape"][1]
    assert got["has"][0] == "pass"  # the other evaluators still ran
