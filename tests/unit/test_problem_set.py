"""The bundled problem set validates, and its answers check out where a computer can check them."""

import contextlib
import io
import json
import re
from collections import Counter

import pytest

from services.errors import BadRequest
from services.evaluate.problem_set import BUNDLED, Outcome, SuiteRun, TargetScore, load_problems, parse_problems
from services.reasoning.methods import extract_answer, is_correct


def test_bundled_set_validates():
    problems = load_problems()
    assert 25 <= len(problems) <= 40
    ids = [p.id for p in problems]
    assert len(set(ids)) == len(ids)
    cats = Counter(p.category for p in problems)
    assert set(cats) == {"math", "logic", "code"} and min(cats.values()) >= 8
    assert {p.difficulty for p in problems} == {"easy", "medium", "hard"}
    for p in problems:
        assert p.question.strip() and p.answer.strip()
        # each answer, written as a model would, is scored correct by our own matcher
        reply = f"Working...\nAnswer: {p.answer}"
        assert is_correct(extract_answer(reply).answer, p.answer, p.answer_type, p.accept), p.id


def test_code_answers_are_what_python_prints():
    for p in load_problems():
        if p.category != "code":
            continue
        code = re.search(r"```python\n(.*?)```", p.question, re.S).group(1)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, p.id, "exec"), {})  # our own bundled snippets, not user input
        assert out.getvalue().strip() == p.answer, p.id


def test_some_math_answers_recomputed():
    answers = {p.id: p.answer for p in load_problems()}
    assert answers["math-01"] == str(4 * 3 + 5 * 2)
    assert answers["math-04"] == str(14 * 9 - 12 * 7)
    assert answers["math-08"] == str(sum(n for n in range(1, 101) if n % 3 == 0 or n % 5 == 0))
    assert answers["math-09"] == str(next(x for x in range(1, 200) if x % 4 == 1 and x % 5 == 2 and x % 7 == 3))
    assert float(answers["math-07"]) == pytest.approx(1 / (1 / 6 + 1 / 9))
    assert float(answers["math-12"]) == 60 / (30 / 15 + 30 / 10)


def line(**over):
    base = {"id": "p1", "category": "math", "difficulty": "easy", "question": "1+1?", "answer": "2",
            "answer_type": "number"}
    base.update(over)
    return json.dumps({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("{not json", "line 1 is not valid JSON"),
    (line() + "\n" + line(), "line 2: id 'p1' is used twice"),
    (line(answer=None), "'answer' must be non-empty"),
    (line(question="  "), "'question' must be non-empty"),
    (line(difficulty="extreme"), "difficulty must be one of"),
    (line(answer_type="essay"), "answer_type must be one of"),
    (line(answer="two"), "is not a number"),
    (line(id="../x"), "may use letters"),
    (line(extra=1), "unknown field"),
    ("[1, 2]", "must be a JSON object"),
])
def test_bad_problem_sets_name_the_line(text, message):
    with pytest.raises(BadRequest, match=re.escape(message)):
        parse_problems(text)


def test_missing_file(tmp_path):
    with pytest.raises(BadRequest, match="No problem set"):
        load_problems(tmp_path / "nope.jsonl")
    assert BUNDLED.is_file()


def test_suite_exports():
    run = SuiteRun(["a:x"], {"temperature": 0}, True, scores={"a:x": TargetScore("a:x", 1, 2, 0, 10, 20, 1.5)})
    run.outcomes.append(Outcome("a:x", "p1", "math", "easy", "2", "2", True, "explicit", 5, 10, 0.7, "", "Answer: 2"))
    d = run.to_dict()
    assert d["targets"]["a:x"]["accuracy"] == 0.5
    assert d["outcomes"][0]["problem_id"] == "p1"
    csv_text = run.to_csv()
    assert csv_text.splitlines()[0].startswith("target,problem_id") and "Answer: 2" not in csv_text


# ---- the suite's tables, from a real run against the loopback OpenAI stand-in ----------------

SMALL_SET = (b'{"id": "add-1", "category": "math", "difficulty": "easy", "question": "What is 2 + 3?", '
             b'"answer": "5", "answer_type": "number"}\n'
             b'{"id": "max-1", "category": "logic", "difficulty": "medium", "question": "Which is larger, 3 or 9?", '
             b'"answer": "9", "answer_type": "number"}\n')


def test_uploaded_bytes_parse_and_non_utf8_is_one_sentence():
    assert [p.id for p in parse_problems(SMALL_SET)] == ["add-1", "max-1"]
    with pytest.raises(BadRequest, match="not UTF-8 text; a problem set is JSON lines"):
        parse_problems(b"\xff\xfe{}")


def test_score_and_problem_rows_put_each_target_in_a_column():
    from services import config
    from services.evaluate.problem_set import run_suite
    from tests.standins.openai_sse import OpenAIStandIn, Reply

    def answers(body):
        model, last = body["model"], body["messages"][-1]["content"]
        if model == "down":
            return Reply.error(401, "bad key")
        if model == "wrong":
            return Reply.text("Answer: 6")
        return Reply.text("Answer: 5" if "2 + 3" in last else "Answer: 9")

    with OpenAIStandIn(models=("right", "wrong", "down"), answers=answers) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            run = run_suite(parse_problems(SMALL_SET), ["openai:right", "openai:wrong", "openai:down"],
                            step_by_step=False)
    assert run.problem_rows() == [
        {"problem": "add-1", "category": "math", "difficulty": "easy", "expected": "5",
         "openai:right": "✓ 5", "openai:wrong": "✗ 6", "openai:down": "✗ –"},
        {"problem": "max-1", "category": "logic", "difficulty": "medium", "expected": "9",
         "openai:right": "✓ 9", "openai:wrong": "✗ 6", "openai:down": "✗ –"},
    ]
    scores = {r["target"]: r for r in run.score_rows()}
    assert list(scores) == ["openai:right", "openai:wrong", "openai:down"]
    assert (scores["openai:right"]["accuracy"], scores["openai:right"]["correct"], scores["openai:right"]["problems"]) \
        == ("100%", 2, 2)
    assert (scores["openai:wrong"]["accuracy"], scores["openai:wrong"]["errors"]) == ("0%", 0)
    assert (scores["openai:down"]["accuracy"], scores["openai:down"]["errors"]) == ("0%", 2)
    assert set(scores["openai:right"]) == {"target", "accuracy", "correct", "problems", "errors", "tokens out",
                                           "seconds"}


def test_problem_rows_keep_problem_order_and_show_no_answer_as_a_dash():
    run = SuiteRun(["a:x"], {}, True, scores={"a:x": TargetScore("a:x", 1, 2)})
    run.outcomes += [Outcome("a:x", "p2", "code", "hard", "3", None, False, "none", None, None, None),
                     Outcome("a:x", "p1", "math", "easy", "2", "2", True, "explicit", 5, 10, 0.7)]
    assert [(r["problem"], r["a:x"]) for r in run.problem_rows()] == [("p2", "✗ –"), ("p1", "✓ 2")]
    assert run.score_rows() == [{"target": "a:x", "accuracy": "50%", "correct": 1, "problems": 2, "errors": 0,
                                 "tokens out": 0, "seconds": 0.0}]
