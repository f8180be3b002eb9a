"""Prompt files of the shapes found in public repositories, run through `python -m services eval` against the
loopback OpenAI stand-in (tests/standins/openai_sse.py, named as a stand-in): for each, the exact prompt text
the server received (its request log), the JSON fields written and the exit status, as gh models eval has them.

The files here are our own, written in the shapes seen in other people's files (no testData, placeholders no
row fills, unquoted dates and yes/NO/1.10, extra keys, typos, no evaluators, a judge that cannot answer).
"""

from __future__ import annotations

import json

import pytest

from services import config
from services.__main__ import main
from tests.standins.openai_sse import OpenAIStandIn, Reply

MODELS = ("m-a", "judge", "judge-down", "fails")


def answers(body: dict) -> Reply | None:
    """The model repeats the last message after `echo:`; judges say yes; one judge and one model are broken."""
    model, last = body.get("model"), body["messages"][-1]["content"]
    if model == "judge":
        return Reply.text("Yes.")
    if model == "judge-down":
        return Reply.error(500, "judge broke")
    if model == "fails":
        return Reply.error(401, "bad key")
    return Reply.text(f"echo: {last}")


@pytest.fixture
def server():
    with OpenAIStandIn(models=MODELS, answers=answers) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            yield srv


def run(tmp_path, capsys, text: str, *args: str) -> tuple[int, dict | None, str]:
    """`eval FILE --json OUT --no-store ARGS`: the exit status, the JSON written (None if none) and stderr."""
    path, out = tmp_path / "shape.prompt.yml", tmp_path / "out.json"
    path.write_text(text, encoding="utf-8")
    out.unlink(missing_ok=True)
    code = main(["eval", str(path), "--json", str(out), "--no-store", *args])
    err = capsys.readouterr().err
    return code, (json.loads(out.read_text()) if out.exists() else None), err


def sent(server, model: str = "m-a") -> list[str]:
    """The last message of every chat request a model received, in arrival order."""
    return [r.json["messages"][-1]["content"] for r in server.chat_requests if r.json["model"] == model]


def results(data: dict) -> list[tuple]:
    return [tuple((r["evaluatorName"], r["score"], r["passed"]) for r in t["evaluationResults"])
            for t in data["testResults"]]


def test_placeholders_no_row_fills_stay_as_written(server, tmp_path, capsys):
    text = """name: greet
model: openai:m-a
messages:
  - role: user
    content: "Hello {{who}}, today is {{day}}. {{ who }}"
testData:
  - who: Ann
    day: Monday
  - who: Bo
evaluators:
  - name: says-hello
    string: {contains: "hello {{who}}"}
"""
    code, data, err = run(tmp_path, capsys, text)
    # remote cases run at once: the order they arrive in is not fixed
    assert sorted(sent(server)) == ["Hello Ann, today is Monday. {{ who }}", "Hello Bo, today is {{day}}. {{ who }}"]
    assert code == 0 and data["summary"] == {"totalTests": 2, "passedTests": 2, "failedTests": 0, "passRate": 100.0}
    assert "note: Left in the text as written, as gh models eval leaves them, because no test row gives a value: " \
           "{{day}} (messages item 1, row 2)." in err
    assert "{{ who }} in messages item 1 has spaces inside the braces" in err
    assert any("{{day}}" in n for n in data["notices"])


@pytest.mark.parametrize("rows", ["", "testData:\n", "testData: []\n"])
def test_no_test_rows_runs_no_case_and_says_how_to_give_rows(server, tmp_path, capsys, rows):
    text = f"""name: bare prompt
model: openai:m-a
messages:
  - role: user
    content: "Compare {{{{a}}}} and {{{{b}}}}"
{rows}evaluators:
  - name: any
    string: {{contains: x}}
"""
    code, data, err = run(tmp_path, capsys, text)
    assert server.chat_requests == [] and code == 0
    assert data["summary"] == {"totalTests": 0, "passedTests": 0, "failedTests": 0, "passRate": 100.0}
    assert data["testResults"] == []
    assert "so no case runs, as with gh models eval: give rows with --data FILE (.jsonl or .csv) or the Evaluate " \
           "page's test-data upload; its placeholders ({{a}}, {{b}}) take their values from them." in err
    # rows given with --data run as usual
    rows_file = tmp_path / "rows.csv"
    rows_file.write_text("a,b\ntea,coffee\n")
    code, data, _ = run(tmp_path, capsys, text, "--data", str(rows_file))
    assert sent(server) == ["Compare tea and coffee"] and code == 1 and data["summary"]["failedTests"] == 1


def test_unquoted_dates_yes_no_and_decimals_reach_the_prompt_as_written(server, tmp_path, capsys):
    text = """name: scalars
model: openai:m-a
messages:
  - role: user
    content: "On {{date}} the answer was {{choice}}, flag {{flag}}, version {{n}}, count {{k}}, none {{z}}."
testData:
  - {date: 2025-11-20, choice: yes, flag: NO, n: 1.10, k: 0x1F, z: ~}
evaluators:
  - name: echoes-date
    string: {contains: "2025-11-20"}
  - name: exact
    string: {equals: "echo: On 2025-11-20 the answer was yes, flag NO, version 1.10, count 0x1F, none ~."}
  - name: judged
    llm:
      modelId: openai:judge
      prompt: "Was {{choice}} said? {{completion}}"
      choices:
        - choice: yes
          score: 1
        - choice: no
          score: 0
"""
    code, data, err = run(tmp_path, capsys, text)
    assert sent(server) == ["On 2025-11-20 the answer was yes, flag NO, version 1.10, count 0x1F, none ~."]
    assert sent(server, "judge") == [
        "Was yes said? echo: On 2025-11-20 the answer was yes, flag NO, version 1.10, count 0x1F, none ~."]
    assert data["testResults"][0]["testCase"] == {"date": "2025-11-20", "choice": "yes", "flag": "NO", "n": "1.10",
                                                  "k": "0x1F", "z": "~"}
    assert results(data) == [(("echoes-date", 1.0, True), ("exact", 1.0, True), ("judged", 1, True))]
    assert code == 0 and "Traceback" not in err
    # the CSV export of the same run writes the row as text, no traceback
    csv_path = tmp_path / "out.csv"
    assert main(["eval", str(tmp_path / "shape.prompt.yml"), "--csv", str(csv_path), "--no-store"]) == 0
    assert '""date"": ""2025-11-20""' in csv_path.read_text()


def test_extra_keys_are_ignored_with_one_notice_and_typos_are_named(server, tmp_path, capsys):
    text = """name: extras
model: openai:m-a
modelParameters:
  temperature: 0
  maxCompletionTokens: 50
messages:
  - role: user
    content: "Say {{word}}"
    name: user-1
testData:
  - word: apples
evaluaters:
  - name: never-read
    string: {contains: pears}
evaluators:
  - name: has-word
    description: the answer repeats the word
    string:
      contains: "{{word}}"
      note: case does not matter
"""
    code, data, err = run(tmp_path, capsys, text)
    assert sent(server) == ["Say apples"]
    assert code == 0 and results(data) == [(("has-word", 1.0, True),)]
    assert "note: `evaluaters`: did you mean `evaluators`? As written it is ignored (gh models eval ignores it too)." in err
    assert ("note: Ignored, as gh models eval ignores keys it does not know: modelParameters.maxCompletionTokens, "
            "messages[1].name, evaluators[1].description, evaluators[1].string.note.") in err


def test_a_misspelled_evaluators_key_leaves_no_evaluators_and_every_answer_passes(server, tmp_path, capsys):
    text = """name: typo only
model: openai:m-a
messages:
  - {role: user, content: "Name a {{thing}}"}
testData:
  - {thing: fruit}
  - {thing: city}
Evaluators:
  - {name: x, string: {contains: never}}
"""
    code, data, err = run(tmp_path, capsys, text)
    assert sorted(sent(server)) == ["Name a city", "Name a fruit"]
    assert code == 0 and data["summary"] == {"totalTests": 2, "passedTests": 2, "failedTests": 0, "passRate": 100.0}
    assert all(t["evaluationResults"] == [] and t["status"] == "pass" for t in data["testResults"])
    assert "`Evaluators`: did you mean `evaluators`?" in err
    assert "This file has no evaluators: every case that gets an answer passes" in err


def test_all_failing_exits_1_with_the_reference_summary(server, tmp_path, capsys):
    text = """name: all fail
model: openai:m-a
messages:
  - {role: user, content: "Q{{n}}"}
testData:
  - {n: 1}
  - {n: 2}
evaluators:
  - {name: starts, string: {startsWith: "answer:"}}
"""
    code, data, _ = run(tmp_path, capsys, text)
    assert sorted(sent(server)) == ["Q1", "Q2"]
    assert code == 1
    assert data["summary"] == {"totalTests": 2, "passedTests": 0, "failedTests": 2, "passRate": 0.0}
    assert results(data) == [(("starts", 0.0, False),)] * 2
    assert data["testResults"][0]["evaluationResults"][0]["details"] == "Expected to start with: 'answer:'"


def test_a_failed_model_call_is_kept_as_an_error_and_counts_as_failed(server, tmp_path, capsys):
    text = """name: errors
model: openai:fails
messages:
  - {role: user, content: "Hi {{x}}"}
testData:
  - {x: one}
evaluators:
  - {name: any, string: {contains: i}}
"""
    code, data, _ = run(tmp_path, capsys, text)
    assert sent(server, "fails") == ["Hi one"]
    assert code == 1 and data["summary"]["failedTests"] == 1
    (trial,) = data["testResults"]
    assert trial["status"] == "error" and "HTTP 401" in trial["error"] and trial["evaluationResults"] == []
    assert data["summaries"]["openai:fails"]["errors"] == 1


JUDGED = """name: judged
model: openai:m-a
messages:
  - {{role: user, content: "Rate {{{{thing}}}}"}}
testData:
  - {{thing: tea}}
evaluators:
  - name: judge-says
    llm:
      modelId: {judge}
      prompt: "Good? {{{{completion}}}}"
      choices: [{{choice: "yes", score: 1}}, {{choice: "no", score: 0}}]
"""


def test_a_judge_the_file_names_that_cannot_answer_stops_the_run_before_anything_is_sent(server, tmp_path, capsys):
    code, data, err = run(tmp_path, capsys, JUDGED.format(judge="openai:not-served"))
    assert code == 2 and data is None and server.chat_requests == []
    assert err.strip() == ("error: Evaluator 'judge-says' names the judge openai:not-served (openai:not-served), which "
                           "cannot answer here: openai does not list not-served. Nothing was sent; choose a judge with "
                           "--judge TARGET or in the Evaluate page's Judge picker.")
    # --judge picks another: the run goes ahead with it
    code, data, _ = run(tmp_path, capsys, JUDGED.format(judge="openai:not-served"), "--judge", "openai:judge")
    assert code == 0 and sent(server, "judge") == ["Good? echo: Rate tea"]


def test_a_judge_that_fails_mid_run_leaves_the_verdict_unscored_and_the_case_failed(server, tmp_path, capsys):
    code, data, _ = run(tmp_path, capsys, JUDGED.format(judge="openai:judge-down"))
    # the backend retries a 500 before giving up: every try carried the same prompt
    assert sent(server) == ["Rate tea"] and set(sent(server, "judge-down")) == {"Good? echo: Rate tea"}
    assert code == 1 and data["summary"]["failedTests"] == 1
    (result,) = data["testResults"][0]["evaluationResults"]
    assert (result["score"], result["passed"], result["status"]) == (0.0, False, "unscored")
    assert result["details"].startswith("The judge openai:judge-down failed:")
    assert data["summaries"]["openai:m-a"]["unscored"] == 1


def test_a_model_without_a_publisher_that_cannot_answer_is_said_never_swapped(server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    text = "model: gpt-4o-mini\nmessages:\n  - {role: user, content: hi}\ntestData:\n  - {a: 1}\n"
    code, data, err = run(tmp_path, capsys, text)
    assert code == 2 and data is None and server.chat_requests == []
    assert err.startswith("error: The file's model gpt-4o-mini runs as github:gpt-4o-mini, which cannot answer here:")
    assert "GITHUB_TOKEN" in err and "choose a target with --target TARGET" in err
    code, data, _ = run(tmp_path, capsys, text, "--target", "openai:m-a")
    assert code == 0 and sent(server) == ["hi"]


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}


@pytest.mark.parametrize("strict", [True, False, None])
def test_only_the_parameters_the_file_sets_are_sent_and_strict_as_written(server, tmp_path, capsys, strict):
    wrapper = {"name": "thing", "schema": SCHEMA} | ({} if strict is None else {"strict": strict})
    text = f"""name: params
model: openai:m-a
modelParameters:
  temperature: 0.3
responseFormat: json_schema
jsonSchema: '{json.dumps(wrapper)}'
messages:
  - {{role: user, content: "JSON for {{{{x}}}}"}}
testData:
  - {{x: one}}
"""
    code, data, err = run(tmp_path, capsys, text)
    (request,) = [r.json for r in server.chat_requests]
    assert request["messages"] == [{"role": "user", "content": "JSON for one"}]
    assert request["temperature"] == 0.3 and "top_p" not in request and "max_tokens" not in request
    expected = {"name": "thing", "schema": SCHEMA} | ({} if strict is None else {"strict": strict})
    assert request["response_format"] == {"type": "json_schema", "json_schema": expected}
    assert data["requestParams"] == {"openai:m-a": {"sent": {"temperature": 0.3}, "notSent": ["max_tokens", "top_p"]}}
    assert "openai:m-a: sends temperature=0.3; max_tokens, top_p left to the server's default" in err
    # the echo is not JSON: recorded as invalid, but only evaluators decide a case (there are none)
    assert code == 0 and data["testResults"][0]["schemaValid"] is False


def test_json_flag_alone_prints_the_reference_fields_on_stdout(server, tmp_path, capsys):
    path = tmp_path / "p.prompt.yml"
    path.write_text("name: n\ndescription: d\nmodel: openai:m-a\nmessages:\n  - {role: user, content: '{{q}}'}\n"
                    "testData:\n  - {q: ping}\nevaluators:\n  - {name: e, string: {contains: ping}}\n")
    # `eval --json FILE`, as gh models eval is called in workflows
    assert main(["eval", "--json", str(path), "--no-store"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data)[:5] == ["name", "description", "model", "testResults", "summary"]
    assert (data["name"], data["description"], data["model"]) == ("n", "d", "openai:m-a")
    item = data["testResults"][0]
    assert (item["testCase"], item["modelResponse"]) == ({"q": "ping"}, "echo: ping")
    assert item["evaluationResults"] == [{"evaluatorName": "e", "score": 1.0, "passed": True,
                                          "details": "Expected to contain: 'ping'", "status": "pass"}]
    assert data["summary"] == {"totalTests": 1, "passedTests": 1, "failedTests": 0, "passRate": 100.0}


def test_group_by_a_column_gives_each_group_its_pass_rate_and_interval(server, tmp_path, capsys):
    text = """name: groups
model: openai:m-a
messages:
  - {role: user, content: "{{q}}"}
testData:
  - {lang: en, q: one}
  - {lang: en, q: three}
  - {lang: fr, q: un}
evaluators:
  - {name: ends-in-e, string: {endsWith: e}}
"""
    code, data, _ = run(tmp_path, capsys, text, "--group-by", "lang")
    assert code == 1 and sorted(sent(server)) == ["one", "three", "un"]
    rows = {r["group"]: r for r in data["groups"]["rows"]}
    assert data["groups"]["column"] == "lang" and set(rows) == {"en", "fr"}
    assert (rows["en"]["passed"], rows["en"]["ran"], rows["en"]["passRate"]) == (2, 2, 1.0)
    assert (rows["fr"]["passed"], rows["fr"]["ran"], rows["fr"]["passRate"]) == (0, 1, 0.0)
    assert rows["fr"]["passRateHigh"] == pytest.approx(0.7935, abs=1e-4)
    code, data, err = run(tmp_path, capsys, text, "--group-by", "language")
    assert code == 2 and err.strip() == ("error: --group-by language: no test row has that column; the columns "
                                         "are: lang, q.")
