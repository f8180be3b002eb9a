"""The bundled problem set validates, and its answers check out where a computer can check them."""

import contextlib
import io
import json
import re
from collections import Counter

import pytest

from services.errors import BadRequest
from services.reasoning.problem_set import BUNDLED, Outcome, SuiteRun, TargetScore, load_problems, parse_problems
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
