"""Prompt files: reading, writing, templating, bad input sentences, Wilson intervals, judge choice matching."""

from __future__ import annotations

import re

import pytest
import yaml

from services.errors import BadRequest
from services.evaluate import checks, promptfile, sources
from services.evaluate.evaluator_spec import Choice
from services.evaluate.judges import match_choice
from services.evaluate.stats import summarize, wilson
from services.evaluate.targets import model_for_target, target_for_model
from services.evaluate.templating import placeholders, render

BASE = """
name: demo
model: microsoft/phi-3.5-mini-instruct
modelParameters: {maxTokens: 20, temperature: 0, topP: 0.5}
messages:
  - {role: system, content: Be brief.}
  - {role: user, content: "What is {{a}} + {{b}}?"}
testData:
  - {a: 1, b: 2, expected: "3"}
evaluators:
  - name: has
    string: {contains: "{{expected}}"}
"""


def load(extra: str = "", base: str = BASE):
    return promptfile.loads(base + extra)


def test_templating_replaces_exact_keys_and_leaves_the_rest_as_written():
    assert render("{{a}} + {{b}} = {{c}}", {"a": 1, "b": "x", "c": [1, 2]}) == "1 + x = [1, 2]"
    assert render("{{flag}} {{none}}", {"flag": True, "none": None}) == "true "
    assert placeholders("{{a}} {{b}} {{a}}") == ["a", "b"]
    # as gh models eval: a key no row gives, and a key written with spaces, stay as written
    assert render("hi {{z}} {{ a }}", {"a": 1}) == "hi {{z}} {{ a }}"
    assert render("{{{a}}} {{a}}}", {"a": "v"}) == "{v} v}"
    # one pass: a value holding a placeholder is not templated again
    assert render("{{a}} {{b}}", {"a": "{{b}}", "b": "B"}) == "{{b}} B"
    assert render("{{ 1bad }} {x}", {}) == "{{ 1bad }} {x}"
    assert render("{" * 100_000 + "a}}", {"a": "!"}) == "{" * 99_998 + "!"  # linear: one pass


def test_round_trip_keeps_every_field_and_unknown_keys():
    text = BASE + """responseFormat: json_schema
jsonSchema: '{"name": "r", "schema": {"type": "object"}}'
x-team-note: keep me
"""
    pf = promptfile.loads(text)
    assert pf.params().max_tokens == 20 and pf.params().top_p == 0.5 and pf.params().temperature == 0
    assert pf.schema == {"type": "object"}
    again = promptfile.loads(promptfile.dumps(pf))
    assert again.to_dict() == pf.to_dict()
    assert yaml.safe_load(promptfile.dumps(pf))["x-team-note"] == "keep me"
    assert yaml.safe_load(promptfile.dumps(pf))["jsonSchema"] == '{"name": "r", "schema": {"type": "object"}}'


BAD = [
    ("name: [unclosed\n", "The prompt file is not valid YAML at line 2"),
    (BASE + "  - name: x\n    fuzzy: {}\n", "evaluator 2 ('x') has no kind; give one of string, llm"),
    (BASE + "jsonSchema: '{not json'\n", "jsonSchema is not JSON"),
    (BASE.replace('  - {a: 1, b: 2, expected: "3"}', "  - just text"), "testData row 1 is not a map"),
    (BASE + "  - name: u\n    uses: github/vibes\n", "built-in judges are"),
    (BASE + "  - name: r\n    regex: {pattern: '(unclosed'}\n", "not a valid regular expression"),
    (BASE + "responseFormat: xml\n", "responseFormat must be one of"),
    (BASE + "responseFormat: json_schema\n", "needs a jsonSchema"),
    (BASE.replace("maxTokens: 20", "maxTokens: -1"), "modelParameters: max_tokens"),
    (BASE.replace("{role: user,", "{role: robot,"), "messages item 2 has role 'robot'"),
    (BASE + "  - name: s\n    string: {contains: '', equals: ''}\n", "needs one of equals, contains, startsWith, "
     "endsWith with a value"),
    (BASE + "  - name: u\n    uses: github/similiarity\n", "(did you mean github/similarity?)"),
    (BASE.replace("maxTokens: 20", "maxTokens: '20'"), "modelParameters.maxTokens must be a whole number written "
     "without quotes, not '20'"),
    (BASE + "  - name: j\n    llm: {prompt: x, choices: [{choice: yes, score: high}]}\n", "choice 1 score must be a "
     "number written without quotes, not 'high'"),
    (BASE + "  - name: sim\n    uses: github/similarity\n".replace("sim", "sim"), None),
]


@pytest.mark.parametrize("text,sentence", BAD)
def test_bad_files_get_one_sentence_naming_the_place(text, sentence):
    if sentence is None:
        promptfile.loads(text.replace('expected: "3"', 'expected: "3"'))  # similarity with `expected`: fine
        return
    with pytest.raises(BadRequest, match=re.escape(sentence)):
        promptfile.loads(text)


def test_lenient_shapes_are_read_as_the_reference_reads_them_with_a_notice():
    text = BASE + """  - name: two
    string: {equals: a, contains: b}
    uses: github/fluency
  - name: has
    json: {}
  - name: j
    llm: {prompt: "x {{completion}}", choices: [{choice: good, score: 1}, {choice: Good, score: 0}]}
"""
    pf = promptfile.loads(text)
    two = pf.evaluators[1]
    assert (two.kind, two.config) == ("string", {"equals": "a"})
    assert [e.name for e in pf.evaluators] == ["has", "two", "has (2)", "j"]
    assert [c.choice for c in pf.evaluators[3].choices] == ["good"]
    notes = " ".join(pf.notices)
    assert "has string and uses: string is used" in notes
    assert "gives equals and contains: only equals is checked" in notes
    assert "the second is called 'has (2)'" in notes
    assert "choice 2 ('Good') is the same words as an earlier choice" in notes


def test_ten_thousand_rows_are_refused_with_the_bound():
    rows = "\n".join(f"  - {{a: {i}, b: 1, expected: x}}" for i in range(10_000))
    text = BASE.split("testData:")[0] + "testData:\n" + rows + "\n"
    with pytest.raises(BadRequest, match=re.escape("testData has 10,000 rows; at most 1,000 run at once")):
        promptfile.loads(text)
    lines = "\n".join('{"a": 1, "b": 2, "expected": "3"}' for _ in range(1001))
    with pytest.raises(BadRequest, match="more than 1,000 rows"):
        sources.rows_from_jsonl(lines)


def test_file_size_bound():
    with pytest.raises(BadRequest, match="at most 2,000,000"):
        promptfile.loads(b"#" * 2_000_001)


def test_rows_from_jsonl_and_csv_replace_test_data():
    pf = load()
    rows = sources.rows_from_file("d.csv", "a,b,expected\n2,2,4\n5,5,10\n")
    assert rows == [{"a": "2", "b": "2", "expected": "4"}, {"a": "5", "b": "5", "expected": "10"}]
    assert len(promptfile.with_rows(pf, rows).rows()) == 2
    rows = sources.rows_from_file("d.jsonl", '{"a": 1, "b": 1, "expected": 2}\n\n{"a": 3, "b": 3, "expected": 6}\n')
    assert [r["expected"] for r in rows] == [2, 6]
    with pytest.raises(BadRequest, match="line 2 is not valid JSON"):
        sources.rows_from_jsonl('{"a": 1}\n{oops')
    with pytest.raises(BadRequest, match="line 1 is not a JSON object"):
        sources.rows_from_jsonl("[1]")
    # a placeholder the new rows do not fill is left as written, and said once
    short = promptfile.with_rows(pf, [{"a": 1}])
    assert any("{{b}} (messages item 2)" in n and "{{expected}} (evaluator 'has')" in n for n in short.notices)
    with pytest.raises(BadRequest, match="must be a .jsonl or .csv"):
        sources.rows_from_file("d.xlsx", b"")
    with pytest.raises(BadRequest, match="more values than the header"):
        sources.rows_from_csv("a,b\n1,2,3\n")


def test_model_maps_to_a_target():
    assert target_for_model("microsoft/phi-3.5-mini-instruct") == "github:microsoft/phi-3.5-mini-instruct"
    assert target_for_model("openai/gpt-4o-mini") == "github:openai/gpt-4o-mini"
    assert target_for_model("onnx:smollm2-135m-instruct") == "onnx:smollm2-135m-instruct"
    # anything else is what gh models eval sends to GitHub Models, as written
    assert target_for_model("gpt-4o-mini") == "github:gpt-4o-mini"
    assert target_for_model("azureml://registries/x/models/y") == "github:azureml://registries/x/models/y"
    assert target_for_model("") is None
    assert model_for_target("github:microsoft/phi-3.5-mini-instruct") == "microsoft/phi-3.5-mini-instruct"
    assert model_for_target("ollama:phi3.5") == "ollama:phi3.5"


def test_chat_saved_as_a_prompt_file_loads_back():
    from services.types import GenerationParams

    text = sources.from_chat([("user", "Hi {name}"), ("assistant", "Hello"), ("user", "Capital of France?"),
                              ("assistant", "Paris")], system="Be brief.",
                             params=GenerationParams(temperature=0.3, max_tokens=99, top_p=0.8),
                             target="onnx:smollm2-135m-instruct")
    pf = promptfile.loads(text)
    assert [m["role"] for m in pf.messages] == ["system", "user", "assistant", "user"]
    assert pf.model == "onnx:smollm2-135m-instruct"
    assert pf.model_parameters == {"maxTokens": 99, "temperature": 0.3, "topP": 0.8}
    with pytest.raises(BadRequest, match="no question to save"):
        sources.from_chat([], system="x")


def test_bundled_examples_load():
    names = sorted(sources.examples())
    assert len(names) >= 3
    kinds = set()
    for path in sources.examples().values():
        pf = sources.load_file(path)
        assert pf.test_data and pf.evaluators
        kinds |= {e.kind for e in pf.evaluators}
    assert {"json", "jsonSchema", "string", "numeric", "llm", "uses"} <= kinds


def test_wilson_against_hand_computed_values():
    # worked by hand with z = 1.96: centre (p + z²/2n)/(1 + z²/n), half-width z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n)
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == pytest.approx(1.0, abs=1e-9)
    lo, hi = wilson(1, 2)
    assert lo == pytest.approx(0.0945, abs=1e-4) and hi == pytest.approx(0.9055, abs=1e-4)
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 0) == (None, None)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_summary_counts_every_answer_that_ran_and_counts_unscored_and_errors_apart():
    def trial(status, score=None, total=1.0, result_status=None):
        res = [] if status in ("error",) else [{"evaluatorName": "e", "score": score, "passed": status == "pass",
                                                 "status": result_status or status}]
        return {"status": status, "evaluationResults": res, "metrics": {"total_s": total, "completion_tokens": 10}}

    s = summarize([trial("pass", 1.0), trial("fail", 0.0), trial("unscored", 0.0), trial("error", total=9.0),
                   trial("cancelled")], ["e"])
    assert (s["passed"], s["failed"], s["unscored"], s["errors"], s["cancelled"], s["ran"]) == (1, 1, 1, 1, 1, 4)
    # as gh models eval counts: passed of the answers that ran (unscored and errors are not passed)
    assert s["passRate"] == 0.25 and s["passRateLow"] == pytest.approx(wilson(1, 4)[0], abs=1e-4)
    # a verdict the evaluator could not reach is 0 in the reference's fields, left out of the mean here
    assert s["evaluators"]["e"] == {"mean": 0.5, "n": 2, "unscored": 1}
    assert s["meanLatencyS"] == 1.0  # the failed call's time is not an answer's latency


GOOD = (Choice("good", 1.0), Choice("not good", 0.0))


@pytest.mark.parametrize("reply,expected", [
    ("good", "good"),
    ("Not good.", "not good"),
    ("not good", "not good"),
    ("The answer is not good.", "not good"),
    ("I would say it is good", "good"),
    ("GOOD - clear and right", "good"),
    ("goodness knows", None),  # "good" is not a word of this reply
    ("bad", None),
    ("", None),
    ("It is good, or maybe not good", None),  # names both: ambiguous, not a guess
])
def test_judge_reply_matches_exactly_one_choice_by_words(reply, expected):
    choice, how = match_choice(reply, GOOD)
    assert (choice.choice if choice else None) == expected, how


def test_numeric_scale_takes_the_leading_grade():
    scale = tuple(Choice(str(n), (n - 1) / 4) for n in range(1, 6))
    assert match_choice("4 out of 5", scale)[0].choice == "4"
    assert match_choice("I give it a 3.", scale)[0].choice == "3"
    assert match_choice("Between 2 and 3", scale)[0] is None


def test_checks_give_exact_scores():
    assert checks.string_check("equals", "Paris", "Paris").score == 1.0
    assert checks.string_check("equals", "Paris", "paris").score == 0.0  # case-sensitive, as GitHub's
    assert checks.string_check("contains", "PARIS", "it is paris").passed
    assert checks.string_check("startsWith", "the", "The end").passed
    assert not checks.string_check("endsWith", "x", "The end").passed
    assert checks.json_check('```json\n{"a": 1}\n```').passed
    assert not checks.json_check("Here: {}").passed
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert checks.schema_check(schema, '{"a": 1}').passed
    v = checks.schema_check(schema, '{"a": "x"}')
    assert not v.passed and "first at a" in v.details
    assert checks.numeric_check("3.6", 0.05, "Working...\nAnswer: 3.62").passed
    assert not checks.numeric_check("3.6", 0.0, "Answer: 3.62").passed
    assert checks.numeric_check("1200", 0, "The total is $1,200.").passed
    assert checks.answer_check("Friday", "text", [], "It will be Friday.").passed
    assert checks.regex_check(r"\b\d{3}\b", False, "code 123 ok").passed
    slow = checks.regex_check(r"(\w+\s?)+$", False, "a" * 5000 + "!")
    assert slow.score is None and slow.status == "unscored" and "stopped" in slow.details
