"""A finished (or stopped) run as one record: summaries, JSON as `gh models eval --json` writes it, CSV, diff."""

from __future__ import annotations

import json
import time

from services.csv_export import dicts_csv
from services.errors import BadRequest
from services.evaluate.promptfile import dumps, loads
from services.evaluate.runner import EvalSpec
from services.evaluate.stats import summarize
from services.types import GenerationParams

FORMAT = "phi-playground-eval/1"
MARK = {"pass": "✓", "fail": "✗", "unscored": "?", "error": "⚠", "cancelled": "–"}


def target_summaries(rec: dict) -> dict:
    """Each target's numbers, from the trials (so a run stored before today's rules reads by them too)."""
    names = rec["evaluators"]
    return {t: summarize([x for x in rec["testResults"] if x["target"] == t], names) for t in rec["targets"]}


def case_summary(test_results: list[dict]) -> dict:
    """gh models eval's summary: a case passes when every one of its answers passed every evaluator.

    A case is one test row: with several targets or repeats it passes only when all its answers
    did; an answer whose model call failed counts as failed; answers Stop cancelled did not run.
    passRate is a percentage, 100 when no case ran (as the reference reports it).
    """
    by_case: dict[int, list[str]] = {}
    for t in test_results:
        if t["status"] != "cancelled":
            by_case.setdefault(t["case"], []).append(t["status"])
    total = len(by_case)
    passed = sum(1 for statuses in by_case.values() if all(s == "pass" for s in statuses))
    return {"totalTests": total, "passedTests": passed, "failedTests": total - passed,
            "passRate": 100.0 * passed / total if total else 100.0}


def request_params(spec, local: dict[str, bool]) -> dict:
    """Per target, the sampling parameters its requests carry: a remote API gets only what the file
    sets (the rest is its own default); a local runtime uses every value, this app's default for the rest."""
    p = spec.params
    values = {"max_tokens": p.max_tokens, "temperature": p.temperature, "top_p": p.top_p}
    out = {}
    for t in spec.targets:
        if local.get(t, True):
            out[t] = {"used": values, "defaults": sorted(p.unset)}
        else:
            out[t] = {"sent": {k: v for k, v in values.items() if k not in p.unset}, "notSent": sorted(p.unset)}
    return out


def params_sentences(request_params: dict) -> list[str]:
    """One line per target: what its requests carry, and what was left to the server or this app's default."""
    out = []
    for target, p in request_params.items():
        if "sent" in p:
            sent = ", ".join(f"{k}={v}" for k, v in p["sent"].items()) or "no sampling parameters"
            left = f"; {', '.join(p['notSent'])} left to the server's default" if p["notSent"] else ""
            out.append(f"{target}: sends {sent}{left}")
        else:
            used = ", ".join(f"{k}={v}" + (" (this app's default)" if k in p["defaults"] else "")
                             for k, v in p["used"].items())
            out.append(f"{target}: runs with {used}")
    return out


def record(run) -> dict:
    """Everything about a run, JSON-ready: the prompt file, settings, every trial and per-target summaries."""
    spec = run.spec
    trials = [tr.to_dict(run.rows[tr.case]) for tr in run.trials]
    rec = {
        "format": FORMAT,
        "name": spec.prompt.name, "description": spec.prompt.description, "model": spec.prompt.model,
        "source": spec.source, "promptFile": dumps(spec.prompt),
        "targets": list(spec.targets), "repeat": spec.repeat, "judge": spec.judge, "judges": run.judges,
        "params": spec.params.to_dict(), "requestParams": request_params(spec, run.local),
        "cases": len(run.rows), "evaluators": [e.name for e in spec.prompt.evaluators],
        "notices": spec.prompt.notices,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started)),
        "wallS": run.wall_s, "stopped": run.stopped, "refused": dict(run.refused),
        "testResults": trials,
    }
    rec["summaries"] = target_summaries(rec)
    return rec


def gh_json(rec: dict) -> dict:
    """The export: gh models eval's fields with its meanings, then ours under keys of their own.

    name, description, model; testResults items with testCase, modelResponse and evaluationResults
    [{evaluatorName, score (always a number), passed, details}]; summary {totalTests, passedTests,
    failedTests, passRate} per case (see case_summary). Ours: each item's target, repeat, status,
    metrics and error; per-target `summaries` with 95% intervals, unscored and error counts, latency.
    """
    out = {k: rec[k] for k in ("name", "description", "model")}
    out["testResults"] = rec["testResults"]
    out["summary"] = case_summary(rec["testResults"])
    out["summaries"] = target_summaries(rec)
    for k in ("targets", "repeat", "judges", "params", "created", "wallS", "stopped", "format"):
        out[k] = rec[k]
    # runs stored before these were kept have none
    for k, empty in (("refused", {}), ("requestParams", {}), ("notices", [])):
        out[k] = rec.get(k, empty)
    return out


CSV_COLUMNS = ["target", "case", "repeat", "status", "testCase", "modelResponse", "error", "schema_valid",
               "schema_error", "total_s", "ttft_s", "prompt_tokens", "completion_tokens"]


def to_csv(rec: dict) -> str:
    """One row per trial; per evaluator a score and a passed column."""
    names = rec["evaluators"]
    cols = CSV_COLUMNS + [f"{n}:{k}" for n in names for k in ("score", "passed", "details")]
    out = []
    for t in rec["testResults"]:
        row = {"target": t["target"], "case": t["case"] + 1, "repeat": t["repeat"] + 1, "status": t["status"],
               "testCase": json.dumps(t["testCase"], ensure_ascii=False), "modelResponse": t["modelResponse"],
               "error": t["error"] or "", "schema_valid": t.get("schemaValid"),
               "schema_error": t.get("schemaError") or ""}
        for k in ("total_s", "ttft_s", "prompt_tokens", "completion_tokens"):
            row[k] = t["metrics"].get(k)
        for r in t["evaluationResults"]:
            row[f"{r['evaluatorName']}:score"] = r["score"]
            row[f"{r['evaluatorName']}:passed"] = r["passed"]
            row[f"{r['evaluatorName']}:details"] = r["details"]
        out.append(row)
    return dicts_csv(cols, out)


def check_record(rec) -> dict:
    """A stored or exported run, checked enough to show, re-run and diff."""
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or not isinstance(rec.get("testResults"), list):
        raise BadRequest("This is not an evaluation run from this app (no phi-playground-eval format).")
    return rec


def spec_from_record(rec: dict):
    """The same evaluation again: prompt file, targets, repeat, judge and parameters of a stored run."""
    rec = check_record(rec)
    prompt = loads(rec["promptFile"], "The stored run's prompt file")
    values = dict(rec["params"])
    if "response_format" not in values and prompt.request_format is not None:
        values["response_format"] = prompt.request_format  # a run stored before parameters carried it
    return EvalSpec.build(prompt, rec["targets"], repeat=rec["repeat"], judge=rec.get("judge"),
                          params=GenerationParams.from_dict(values), source=rec.get("source", ""))


def cell_outcomes(rec: dict) -> dict[tuple[int, str], tuple[int, int]]:
    """(case, target) -> (passed, graded) over the repeats."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for t in rec["testResults"]:
        p, n = out.get((t["case"], t["target"]), (0, 0))
        if t["status"] in ("pass", "fail"):
            out[(t["case"], t["target"])] = (p + (t["status"] == "pass"), n + 1)
        else:
            out[(t["case"], t["target"])] = (p, n)
    return out


def grid_rows(rec: dict) -> list[dict]:
    """Cases x targets: case number, first input, each target's verdict over its repeats (✓ 2/3 passed)."""
    cells: dict[tuple[int, str], list[str]] = {}
    rows: dict[int, dict] = {}
    for t in rec["testResults"]:
        cells.setdefault((t["case"], t["target"]), []).append(t["status"])
        rows.setdefault(t["case"], t["testCase"])
    out = []
    for case in sorted(rows):
        first = next(iter(rows[case].values()), "") if rows[case] else ""
        row = {"case": case + 1, "input": str(first)[:80]}
        for target in rec["targets"]:
            sts = cells.get((case, target), [])
            if len(sts) == 1:
                row[target] = f"{MARK[sts[0]]} {sts[0]}"
            else:
                p, n = sts.count("pass"), sum(s in ("pass", "fail") for s in sts)
                head = "✓" if n and 2 * p > n else "✗" if n else "?"
                row[target] = f"{head} {p}/{n} passed" + (f", {len(sts) - n} other" if len(sts) > n else "")
        out.append(row)
    return out


def _verdict(p: int, n: int) -> str:
    if n == 0:
        return "ungraded"
    return "pass" if 2 * p > n else "fail" if 2 * p < n else "split"


def diff(a: dict, b: dict) -> list[dict]:
    """Cases whose verdict changed between two runs (same case number and test row, same target).

    A cell's verdict is the majority over its repeats (pass, fail, split, ungraded); only cells
    present in both runs with the same test row are compared.
    """
    ca, cb = cell_outcomes(check_record(a)), cell_outcomes(check_record(b))
    rows_a = {t["case"]: t["testCase"] for t in a["testResults"]}
    rows_b = {t["case"]: t["testCase"] for t in b["testResults"]}
    flips = []
    for key in sorted(set(ca) & set(cb), key=lambda k: (k[1], k[0])):
        case, target = key
        if rows_a.get(case) != rows_b.get(case):
            continue
        before, after = _verdict(*ca[key]), _verdict(*cb[key])
        if before != after:
            flips.append({"case": case, "target": target, "testCase": rows_a[case], "before": before, "after": after,
                          "beforeCount": list(ca[key]), "afterCount": list(cb[key])})
    return flips
