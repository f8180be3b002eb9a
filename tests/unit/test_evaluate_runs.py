"""Evaluations over HTTP against the loopback OpenAI stand-in (tests/standins): scripted answers give
exact scores and verdicts for every evaluator kind; a failing target; export; store, re-run and diff; Stop.

No model is loaded: the stand-in answers by model name and prompt, so concurrent requests get the
same answers whatever order they arrive in.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from services import config
from services.evaluate import promptfile, results, storage
from services.evaluate.runner import DEFAULT_JUDGE, EvalSpec, run_eval, start_eval
from tests.standins.openai_sse import OpenAIStandIn, Reply

ANSWER = '{"city": "Paris", "n": 42}'

FILE = """
name: every kind
model: openai/gpt-4o-mini
modelParameters: {maxTokens: 32, temperature: 0}
jsonSchema: '{"name": "r", "schema": {"type": "object", "properties": {"n": {"maximum": 10}}}}'
messages:
  - {role: system, content: "Reply in JSON."}
  - {role: user, content: "Where is {{place}}? Give n = {{n}}."}
testData:
  - {place: the Louvre, city: Paris, n: 42, expected: "Paris, n is 42"}
evaluators:
  - {name: contains, string: {contains: "{{city}}"}}
  - {name: starts, string: {startsWith: '{"CITY"'}}
  - {name: ends, string: {endsWith: "43}"}}
  - {name: equals, string: {equals: '{"city": "{{city}}", "n": {{n}}}'}}
  - {name: rx, regex: {pattern: '"n":\\s*\\d+'}}
  - {name: js, json: {}}
  - {name: schema, jsonSchema: {}}
  - {name: num, numeric: {value: "{{n}}", tolerance: 0}}
  - name: judged
    llm:
      modelId: openai:judge
      prompt: "Is this right for {{place}}? {{completion}}"
      choices: [{choice: good, score: 1}, {choice: not good, score: 0}]
  - name: unsure
    llm:
      modelId: openai:judge
      prompt: "MAYBE {{completion}}"
      choices: [{choice: good, score: 1}, {choice: not good, score: 0}]
  - {name: sim, uses: github/similarity}
"""

EXPECTED = {  # evaluator: (score, passed, status)
    "contains": (1.0, True, "pass"), "starts": (1.0, True, "pass"), "ends": (0.0, False, "fail"),
    "equals": (1.0, True, "pass"), "rx": (1.0, True, "pass"), "js": (1.0, True, "pass"),
    "schema": (0.0, False, "fail"), "num": (1.0, True, "pass"), "judged": (0.0, False, "fail"),
    # a reply that names no choice: 0 and not passed in the reference's fields, unscored in ours
    "unsure": (0.0, False, "unscored"), "sim": (0.75, True, "pass"),
}


def scripted(body: dict) -> Reply | None:
    """Answers by model name and prompt: the judge says "Not good.", "perhaps" or "4"."""
    model, last = body.get("model"), body["messages"][-1]["content"]
    if model == "judge":
        if last.startswith("MAYBE"):
            return Reply.text("perhaps")
        if "CORRECT ANSWER:" in last:
            return Reply.text("4")
        return Reply.text("Not good.")
    if model == "down":
        return Reply.error(401, "bad key")
    if model == "rome" and "Colosseum" in last:
        return Reply.text('{"city": "Rome", "n": 1}')
    return Reply.text(ANSWER)


@pytest.fixture
def server():
    with OpenAIStandIn(models=("m-a", "m-b", "judge", "down", "rome"), answers=scripted) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            yield srv


def test_every_evaluator_kind_gives_the_exact_score_and_verdict(server):
    spec = EvalSpec.build(promptfile.loads(FILE), ["openai:m-a"])
    assert spec.judges() == {"judged": "openai:judge", "unsure": "openai:judge",
                             "sim": DEFAULT_JUDGE}
    spec = EvalSpec.build(promptfile.loads(FILE), ["openai:m-a"], judge="openai:judge")
    run = run_eval(spec)
    (trial,) = run.trials
    assert trial.response == ANSWER and trial.status == "fail"
    got = {r["evaluatorName"]: (r["score"], r["passed"], r["status"]) for r in trial.results}
    assert got == EXPECTED
    details = {r["evaluatorName"]: r["details"] for r in trial.results}
    assert "Unmatched" in details["unsure"] and "'perhaps'" in details["unsure"]
    assert "chose 'not good'" in details["judged"]
    # the judge saw the row and the answer, templated; the model saw the templated messages
    judge_prompts = [r.json["messages"][-1]["content"] for r in server.chat_requests if r.json["model"] == "judge"]
    assert f"Is this right for the Louvre? {ANSWER}" in judge_prompts
    asked = next(r.json for r in server.chat_requests if r.json["model"] == "m-a")
    assert asked["messages"][-1]["content"] == "Where is the Louvre? Give n = 42."
    assert asked["max_tokens"] == 32 and asked["temperature"] == 0


QUIZ = """
name: quiz
messages:
  - {role: user, content: "Where is {{place}}?"}
testData:
  - {place: the Louvre, city: Paris}
  - {place: the Colosseum, city: Rome}
  - {place: the Eiffel Tower, city: Paris}
evaluators:
  - {name: city, string: {contains: "{{city}}"}}
"""


def test_a_failing_target_marks_its_cases_as_errors_and_the_other_goes_on(server):
    spec = EvalSpec.build(promptfile.loads(QUIZ), ["openai:down", "openai:m-a"], repeat=2)
    run = run_eval(spec)
    down = [t for t in run.trials if t.target == "openai:down"]
    ok = [t for t in run.trials if t.target == "openai:m-a"]
    assert len(down) == len(ok) == 6
    assert all(t.status == "error" and "HTTP 401" in t.error for t in down)
    # after the first refusal the remaining cases are not sent (a few may have been in flight)
    assert sum(1 for r in server.chat_requests if r.json["model"] == "down") <= 4
    assert [t.status for t in ok] == ["pass", "pass", "fail", "fail", "pass", "pass"]
    rec = results.record(run)
    s = rec["summaries"]
    # errors count as not passed (as a failed case in gh models eval's summary), and apart
    assert s["openai:down"]["errors"] == 6 and s["openai:down"]["passRate"] == 0.0
    assert (s["openai:m-a"]["passed"], s["openai:m-a"]["graded"]) == (4, 6)
    assert s["openai:m-a"]["passRate"] == pytest.approx(0.6667, abs=1e-4)
    assert s["openai:m-a"]["passRateLow"] == pytest.approx(0.3000, abs=1e-4)
    assert s["openai:m-a"]["passRateHigh"] == pytest.approx(0.9032, abs=1e-4)
    assert s["openai:m-a"]["meanCompletionTokens"] == 4


def test_json_export_has_gh_fields_plus_target_and_metrics(server):
    run = run_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a", "openai:m-b"]))
    out = results.gh_json(results.record(run))
    assert {"name", "description", "model", "testResults", "summary", "summaries", "targets"} <= set(out)
    # per case, as gh models eval counts: a case passes when all its answers (both targets) passed
    assert out["summary"] == {"totalTests": 3, "passedTests": 2, "failedTests": 1, "passRate": 200 / 3}
    assert (out["summaries"]["openai:m-a"]["passed"], out["summaries"]["openai:m-a"]["ran"]) == (2, 3)
    item = out["testResults"][0]
    assert item["testCase"] == {"place": "the Louvre", "city": "Paris"}
    assert item["modelResponse"] == ANSWER
    assert item["evaluationResults"][0] | {"details": ""} == {
        "evaluatorName": "city", "score": 1.0, "passed": True, "details": "", "status": "pass"}
    assert item["target"] == "openai:m-a" and item["metrics"]["completion_tokens"] == 4
    assert item["metrics"]["total_s"] > 0
    json.dumps(out)  # plain JSON all the way down
    rows = list(csv.DictReader(io.StringIO(results.to_csv(results.record(run)))))
    assert len(rows) == 6 and rows[0]["city:score"] == "1.0" and rows[0]["target"] == "openai:m-a"


def test_stored_run_reruns_and_two_runs_diff(server, tmp_path):
    db = tmp_path / "eval.db"
    first = results.record(run_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a"])))
    run_id = storage.save(first, db)
    again = storage.load(run_id, db)
    assert again["id"] == run_id and again["testResults"] == first["testResults"]
    # re-run: the same file, targets and settings
    spec = results.spec_from_record(again)
    assert spec.targets == ("openai:m-a",) and spec.prompt.to_dict() == promptfile.loads(QUIZ).to_dict()
    second = results.record(run_eval(spec))
    assert results.diff(first, second) == []
    # a different target answers the Colosseum right: exactly that case flips
    third = dict(second)
    rome = results.record(run_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:rome"])))
    third["testResults"] = [dict(t, target="openai:m-a") for t in rome["testResults"]]
    flips = results.diff(first, third)
    assert [(f["case"], f["before"], f["after"]) for f in flips] == [(1, "fail", "pass")]
    assert [r["id"] for r in storage.recent(path=db)] == [run_id]
    with pytest.raises(Exception, match="no stored evaluation run"):
        storage.load("nope", db)


def test_stop_keeps_what_finished(server):
    server.token_delay = 0.05
    rows = "\n".join(f"  - {{place: p{i}, city: Paris}}" for i in range(12))
    text = QUIZ.split("testData:")[0] + "testData:\n" + rows + "\nevaluators:\n  - {name: city, string: {contains: '{{city}}'}}\n"
    run = start_eval(EvalSpec.build(promptfile.loads(text), ["openai:m-a"]))
    first = next(t for t in run.events() if t is not None)
    run.close()
    statuses = [t.status for t in run.trials]
    assert first.status == "pass" and run.stopped and run.finished
    assert "cancelled" in statuses and statuses.count("pass") >= 1
    assert all(s in ("pass", "cancelled") for s in statuses)
    rec = results.record(run)
    assert rec["stopped"] and rec["summaries"]["openai:m-a"]["cancelled"] >= 1
    assert rec["summaries"]["openai:m-a"]["graded"] == statuses.count("pass")


def test_run_bounds_are_sentences():
    pf = promptfile.loads(QUIZ)
    with pytest.raises(Exception, match="1 to 4 targets"):
        EvalSpec.build(pf, [f"openai:m{i}" for i in range(5)])
    with pytest.raises(Exception, match="repeat must be a whole number from 1 to 10"):
        EvalSpec.build(pf, ["openai:m-a"], repeat=11)
    with pytest.raises(Exception, match="Unknown target"):
        EvalSpec.build(pf, ["nosuch:x"])


def test_pairwise_judge_reports_a_winner_only_when_both_orders_agree():
    from services.evaluate.pairwise import judge_columns, judge_pair

    def consistent(judge, messages):  # prefers the answer that says "right", wherever it stands
        text = messages[-1].content
        a = text.split("ANSWER A:\n")[1].split("\n\nANSWER B:")[0]
        return "A" if "right" in a else "B"

    assert judge_pair("q", "right", "wrong", "j", consistent)["winner"] == "x"
    assert judge_pair("q", "wrong", "right", "j", consistent)["winner"] == "y"
    always_a = judge_pair("q", "right", "wrong", "j", lambda j, m: "A")
    assert always_a["winner"] is None and "disagree" in always_a["why"]
    ties = judge_pair("q", "x", "y", "j", lambda j, m: "Tie.")
    assert ties["winner"] == "tie"
    vague = judge_pair("q", "x", "y", "j", lambda j, m: "Both are fine, maybe.")
    assert vague["winner"] is None and "no single choice" in vague["why"]
    cols = [{"target": "t1", "text": "right"}, {"target": "t2", "text": "wrong"}, {"target": "t3", "error": "down"}]
    (pair,) = judge_columns("q", cols, "j", consistent)
    assert pair["winner"] == "t1" and pair["first order"] == pair["second order"] == "t1"


def test_pairwise_judge_over_http(server):
    from services.evaluate.pairwise import judge_columns

    server.answers = lambda body: Reply.text("A") if body.get("model") == "judge" else None
    (pair,) = judge_columns("Which city?", [{"target": "m1", "text": "Paris"}, {"target": "m2", "text": "Rome"}],
                            "openai:judge")
    assert pair["winner"] == "no verdict" and pair["first order"] == "m1" and pair["second order"] == "m2"
    assert len([r for r in server.chat_requests if r.json["model"] == "judge"]) == 2


def test_remote_targets_run_at_once_and_a_short_429_is_waited_out(server):
    import time

    server.token_delay = 0.05
    both = EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a", "openai:m-b"])
    started = time.perf_counter()
    run = run_eval(both)
    wall = time.perf_counter() - started
    assert all(t.status in ("pass", "fail") for t in run.trials)
    # six answers of 5 chunks at 0.05 s: one after another would take at least 1.5 s
    per_answer = min(t.metrics["total_s"] for t in run.trials)
    assert wall < 6 * per_answer, (wall, per_answer)
    # two 429s asking to wait 0.2 s: the backend retries once, the engine waits out the second
    server.token_delay = 0.0
    server.answers = None
    server.enqueue(*[Reply.error(429, "slow down", headers={"Retry-After": "0.2"})] * 2)
    one = promptfile.loads(QUIZ.split("  - {place: the Colosseum")[0] + "evaluators:\n  - {name: city, string: {contains: '{{city}}'}}\n")
    (trial,) = run_eval(EvalSpec.build(one, ["openai:m-a"])).trials
    assert trial.status == "fail" and trial.error is None  # answered (the default reply has no "Paris")


def test_grid_rows_give_each_target_its_verdict_over_the_repeats(server):
    rec = results.record(run_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a", "openai:down"], repeat=2)))
    assert results.grid_rows(rec) == [
        {"case": 1, "input": "the Louvre", "openai:m-a": "✓ 2/2 passed", "openai:down": "? 0/0 passed, 2 other"},
        {"case": 2, "input": "the Colosseum", "openai:m-a": "✗ 0/2 passed", "openai:down": "? 0/0 passed, 2 other"},
        {"case": 3, "input": "the Eiffel Tower", "openai:m-a": "✓ 2/2 passed",
         "openai:down": "? 0/0 passed, 2 other"},
    ]
    once = results.record(run_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a", "openai:down"])))
    assert [(r["openai:m-a"], r["openai:down"]) for r in results.grid_rows(once)] == [
        ("✓ pass", "⚠ error"), ("✗ fail", "⚠ error"), ("✓ pass", "⚠ error")]


def test_keep_closes_stores_and_says_when_it_could_not(server, tmp_path):
    run = start_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a"]))
    assert [t for t in run.events() if t is not None]
    rec, not_saved = storage.keep(run, tmp_path / "eval.db")
    assert not_saved == "" and run.finished
    assert storage.load(rec["id"], tmp_path / "eval.db")["testResults"] == rec["testResults"]
    # a folder where the database file goes: the record is still there, with one sentence
    run = start_eval(EvalSpec.build(promptfile.loads(QUIZ), ["openai:m-a"]))
    list(run.events())
    rec, not_saved = storage.keep(run, tmp_path)
    assert "id" not in rec and rec["cases"] == 3 and rec["summaries"]["openai:m-a"]["passed"] == 2
    assert not_saved.startswith("This run was not saved: The conversation database")
    assert "PHI_PLAYGROUND_DB" in not_saved


def test_a_prompt_file_proposes_its_model_when_it_can_answer_else_says_why():
    from services.types import TargetInfo
    from services.evaluate.runner import DEFAULT_JUDGE
    from services.evaluate.targets import propose

    listed = {t.target: t for t in (TargetInfo("onnx:smollm2-135m-instruct", True),
                                    TargetInfo("github:openai/gpt-4o-mini", True),
                                    TargetInfo("github:microsoft/phi-3.5-mini-instruct", False, "set GITHUB_TOKEN."))}
    assert propose("openai/gpt-4o-mini", listed, DEFAULT_JUDGE) == ("github:openai/gpt-4o-mini", "")
    assert propose("onnx:smollm2-135m-instruct", listed, "x:y") == ("onnx:smollm2-135m-instruct", "")
    target, why = propose("microsoft/phi-3.5-mini-instruct", listed, DEFAULT_JUDGE)
    assert target == DEFAULT_JUDGE
    assert why == ("The file's model microsoft/phi-3.5-mini-instruct (github:microsoft/phi-3.5-mini-instruct) cannot "
                   f"answer here: set GITHUB_TOKEN. {DEFAULT_JUDGE} (the embedded model) is chosen instead; pick "
                   "another target in the sidebar.")
    target, why = propose("mistral-ai/not-listed", listed, DEFAULT_JUDGE)
    assert target == DEFAULT_JUDGE and "github does not list mistral-ai/not-listed." in why
    assert propose("", listed, DEFAULT_JUDGE)[0] == DEFAULT_JUDGE
