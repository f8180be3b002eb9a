"""`eval`: a `.prompt.yml` with test data and evaluators on 1 to 4 targets; stored runs, re-run, diff."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.cli.common import print_json
from services.errors import BadRequest
from services.evaluate import results, sources, storage
from services.evaluate.promptfile import with_rows
from services.evaluate.runner import DEFAULT_JUDGE, MAX_REPEAT, MAX_TARGETS, EvalSpec, run_eval
from services.evaluate.targets import target_for_model

def register(sub) -> None:
    p = sub.add_parser("eval", help="run a .prompt.yml (test data + evaluators) on 1 to 4 targets")
    p.add_argument("file", nargs="?", help="a .prompt.yml file (GitHub Models format); 'list' shows bundled examples")
    p.add_argument("--target", action="append", default=[],
                   help=f"backend:model, up to {MAX_TARGETS} times (default: the file's model, else {DEFAULT_JUDGE})")
    p.add_argument("--repeat", type=int, default=1, help=f"ask each case N times (1 to {MAX_REPEAT})")
    p.add_argument("--judge", help=f"target for llm/uses evaluators (default: their modelId, else {DEFAULT_JUDGE})")
    p.add_argument("--data", metavar="FILE", help="test rows from a .jsonl or .csv file instead of the file's testData")
    p.add_argument("--limit", type=int, help="only the first N test rows")
    p.add_argument("--max-tokens", type=int, help="override modelParameters.maxTokens")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON (gh models eval --json fields, plus ours)")
    p.add_argument("--csv", metavar="OUT", help="write one CSV row per answer")
    p.add_argument("--no-store", action="store_true", help="do not keep the run in the database")
    p.add_argument("--rerun", metavar="RUN_ID", help="run a stored run again (same file, targets, repeat, judge)")
    p.add_argument("--diff", nargs=2, metavar=("RUN_A", "RUN_B"), help="cases whose verdict flipped between two runs")
    p.add_argument("--runs", action="store_true", help="list stored runs")
    p.set_defaults(func=run)


def _spec(args) -> EvalSpec:
    if args.rerun:
        return results.spec_from_record(storage.load(args.rerun))
    if not args.file:
        raise BadRequest("Give a .prompt.yml file (or --rerun RUN_ID, --diff A B, --runs).")
    path = Path(args.file)
    if not path.exists() and path.name in sources.examples():
        path = sources.examples()[path.name]  # a bundled example by its name
    pf = sources.load_file(path)
    if args.data:
        try:
            data = Path(args.data).read_bytes()
        except OSError as exc:
            raise BadRequest(f"Cannot read {args.data}: {exc.strerror}.") from None
        pf = with_rows(pf, sources.rows_from_file(Path(args.data).name, data))
    if args.limit is not None:
        if args.limit < 1:
            raise BadRequest("--limit must be 1 or more.")
        pf = with_rows(pf, pf.rows()[: args.limit]) if pf.test_data else pf
    targets = args.target or [target_for_model(pf.model) or DEFAULT_JUDGE]
    params = pf.params()
    if args.max_tokens is not None:
        params = type(params).from_dict({**params.to_dict(), "max_tokens": args.max_tokens})
    return EvalSpec.build(pf, targets, repeat=args.repeat, judge=args.judge, params=params, source=path.name)


def table(rec: dict) -> list[str]:
    """The per-target table: pass rate with its 95% interval, counts, scores, latency and tokens."""
    kind = ((rec.get("params") or {}).get("response_format") or {}).get("kind", "text")
    lines = [f"{'target':44s} {'pass rate':>9s} {'95% CI':>13s} {'pass/graded':>11s} {'err':>4s} {'unsc':>4s} "
             f"{'s/case':>7s} {'tok/case':>8s}"]
    for t, s in rec["summaries"].items():
        rate = f"{s['passRate']:.0%}" if s["passRate"] is not None else "–"
        ci = f"{s['passRateLow']:.0%}–{s['passRateHigh']:.0%}" if s["passRateLow"] is not None else "–"
        lat = f"{s['meanLatencyS']:.2f}" if s["meanLatencyS"] is not None else "–"
        tok = f"{s['meanCompletionTokens']:.0f}" if s["meanCompletionTokens"] is not None else "–"
        lines.append(f"{t:44s} {rate:>9s} {ci:>13s} {s['passed']:>5d}/{s['graded']:<5d} {s['errors']:>4d} "
                     f"{s['unscored']:>4d} {lat:>7s} {tok:>8s}")
        if s.get("schemaChecked"):
            lines.append(f"    valid under responseFormat {kind}: {s['schemaValid']} of {s['schemaChecked']} answers")
        for name, e in s["evaluators"].items():
            mean = f"{e['mean']:.2f}" if e["mean"] is not None else "–"
            extra = f", {e['unscored']} unscored" if e["unscored"] else ""
            lines.append(f"    {name}: mean score {mean} over {e['n']}{extra}")
    return lines


def run(args) -> int:
    if args.file == "list":
        for name, path in sources.examples().items():
            print(f"{name:32s} {path}")
        return 0
    if args.runs:
        for rec in storage.recent():
            print(f"{rec['id']}  {rec['created']}  {rec['name'] or rec['source']!s:30s}  {', '.join(rec['targets'])}")
        return 0
    if args.diff:
        a, b = (storage.load(i) for i in args.diff)
        flips = results.diff(a, b)
        for f in flips:
            print(f"case {f['case'] + 1} on {f['target']}: {f['before']} -> {f['after']}  {json.dumps(f['testCase'])[:80]}")
        print(f"{len(flips)} case(s) flipped.", file=sys.stderr)
        return 0
    spec = _spec(args)
    fmt = spec.params.response_format
    if fmt.is_json:
        print(f"every case is asked under responseFormat {fmt.kind} (constrained decoding)", file=sys.stderr)
    from services.cli.chat import ensure_embedded
    from services.types import Target

    for t in set(spec.targets) | set(spec.judges().values()):
        ensure_embedded(Target.parse(t))

    told: set[str] = set()

    def progress(done, total, tr):
        mark = {"pass": "ok  ", "fail": "FAIL", "unscored": "?   ", "error": "ERR ", "cancelled": "stop"}[tr.status]
        valid = ""
        if tr.schema_valid is not None:
            what = "schema" if fmt.kind == "json_schema" else "JSON object"
            valid = f" ({what} {'valid' if tr.schema_valid else 'invalid'})"
        error = tr.error
        if tr.error_type == "FormatUnsupported":
            # the target's sentence once; its other cases just say they were not sent
            error = "not sent (see above)" if tr.target in told else tr.error
            told.add(tr.target)
        print(f"[{done}/{total}] {mark} {tr.target} case {tr.case + 1}"
              + (f" repeat {tr.repeat + 1}" if spec.repeat > 1 else "") + valid
              + (f": {error}" if error else ""), file=sys.stderr, flush=True)

    run_ = run_eval(spec, progress)
    rec = results.record(run_)
    if not args.no_store:
        rec["id"] = storage.save(rec)
    if args.json:
        text = json.dumps(results.gh_json(rec), ensure_ascii=False, indent=2)
        if args.json == "-":
            print_json(results.gh_json(rec))
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    if args.csv:
        Path(args.csv).write_text(results.to_csv(rec), encoding="utf-8")
    if args.json != "-":
        print(f"{rec['name'] or spec.source}: {rec['cases']} case(s) x {spec.repeat} on {len(spec.targets)} target(s)")
        print("\n".join(table(rec)))
        if rec.get("id"):
            print(f"saved as run {rec['id']}", file=sys.stderr)
    return 0
