"""The bundled prompt files end to end on the embedded model, and `eval` from the shell.

Scores are reported, not asserted: a 135M model is a weak answerer and a weaker judge; what is
asserted is that every case is answered, graded or honestly unscored, and exported.
"""

from __future__ import annotations

import json

import pytest

from services.__main__ import main
from services.evaluate import results, sources
from services.evaluate.runner import EvalSpec, run_eval

pytestmark = pytest.mark.integration

EMBEDDED = "onnx:smollm2-135m-instruct"


@pytest.mark.parametrize("name", sorted(sources.examples()))
def test_bundled_example_runs_on_the_embedded_model(embedded_paths, name):
    pf = sources.load_file(sources.examples()[name])
    run = run_eval(EvalSpec.build(pf, [EMBEDDED], judge=EMBEDDED, source=name))
    rec = results.record(run)
    s = rec["summaries"][EMBEDDED]
    assert s["errors"] == 0 and s["trials"] == len(pf.rows())
    assert s["passed"] + s["failed"] + s["unscored"] == s["trials"]
    assert all(t["modelResponse"] for t in rec["testResults"])
    assert all(len(t["evaluationResults"]) == len(pf.evaluators) for t in rec["testResults"])
    rate = "–" if s["passRate"] is None else f"{s['passRate']:.0%} ({s['passRateLow']:.0%}–{s['passRateHigh']:.0%})"
    means = ", ".join(f"{k} {v['mean']}" + (f" ({v['unscored']} unscored)" if v["unscored"] else "")
                      for k, v in s["evaluators"].items())
    print(f"\n{name} on {EMBEDDED}: pass {s['passed']}/{s['ran']} = {rate}; {means}; "
          f"{s['meanLatencyS']} s and {s['meanCompletionTokens']} tokens per case")


def test_eval_cli_prints_the_table_writes_json_and_exits_as_the_reference(embedded_paths, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["eval", "quiz.prompt.yml", "--target", EMBEDDED, "--target", "llamacpp:smollm2-135m-instruct",
                 "--limit", "2", "--json", str(out), "--csv", str(tmp_path / "out.csv")])
    printed = capsys.readouterr()
    assert "pass rate" in printed.out and "95% CI" in printed.out and EMBEDDED in printed.out
    data = json.loads(out.read_text())
    # per case (a row), on both targets: 2 cases, 4 answers
    assert data["summary"]["totalTests"] == 2 and len(data["testResults"]) == 4
    assert code == (1 if data["summary"]["failedTests"] else 0)
    assert set(data["summaries"]) == {EMBEDDED, "llamacpp:smollm2-135m-instruct"}
    run_id = next(line.split()[-1] for line in printed.err.splitlines() if line.startswith("saved as run"))
    # re-run the stored run and diff the two (greedy decoding: nothing should flip, the same exit status)
    assert main(["eval", "--rerun", run_id]) == code
    rerun_id = next(line.split()[-1] for line in capsys.readouterr().err.splitlines() if line.startswith("saved as run"))
    assert main(["eval", "--diff", run_id, rerun_id]) == 0
    assert "0 case(s) flipped" in capsys.readouterr().err


def test_eval_cli_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.prompt.yml"
    bad.write_text("messages:\n  - {role: user, content: 'Hi {{name}}'}\ntestData:\n  - {name: Ann}\n"
                   "evaluators:\n  - {name: s, uses: github/similarty}\n")
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "(did you mean github/similarity?)" in err


def test_languages_example_runs_offline_and_groups_by_language(embedded_paths, tmp_path, capsys):
    out = tmp_path / "languages.json"
    code = main(["eval", "languages.prompt.yml", "--target", EMBEDDED, "--group-by", "language",
                 "--json", str(out), "--no-store"])
    printed = capsys.readouterr()
    data = json.loads(out.read_text())
    assert data["summary"]["totalTests"] == 21 and code == (1 if data["summary"]["failedTests"] else 0)
    assert all(t["status"] in ("pass", "fail") and t["modelResponse"] for t in data["testResults"])
    rows = data["groups"]["rows"]
    assert [r["group"] for r in rows] == ["English", "French", "Spanish", "German", "Portuguese", "Russian", "Chinese"]
    assert all(r["ran"] == 3 and r["target"] == EMBEDDED and r["passRateLow"] is not None for r in rows)
    assert sum(r["passed"] for r in rows) == data["summaries"][EMBEDDED]["passed"]
    # the table printed per language, after the per-target one
    assert "language" in printed.out and "Chinese" in printed.out
    print("\n" + "\n".join(line for line in printed.out.splitlines() if line.split()[:1] and
                            line.split()[0] in {"language", "English", "French", "Spanish", "German",
                                                "Portuguese", "Russian", "Chinese"}))
