"""`eval`: a `.prompt.yml` with test data and evaluators on 1 to 4 targets; stored runs, re-run, diff.

Exit status as gh models eval's: 1 when any case failed (an answer that missed an evaluator, a judge
that could not decide, a model call that failed), 2 for an error before anything ran (a file that
cannot be read, a model or judge that cannot answer here), 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.cli.chat import ensure_embedded
from services.cli.common import print_json
from services.cli.eval_tables import group_table, table
from services.errors import BadRequest, PlaygroundError
from services.evaluate import groups, results, sources, storage
from services.evaluate.promptfile import with_rows
from services.evaluate.runner import DEFAULT_JUDGE, MAX_REPEAT, MAX_TARGETS, EvalSpec, run_eval
from services.evaluate.targets import judge_notes, target_for_model, unreachable_judges, unreachable_model
from services.jobs import is_local
from services.types import Target

FAILED, NOT_RUN = 1, 2


def register(sub) -> None:
    p = sub.add_parser("eval", help="run a .prompt.yml (test data + evaluators) on 1 to 4 targets")
    p.add_argument("file", nargs="?", help="a .prompt.yml file (GitHub Models format); 'list' shows bundled examples")
    p.add_argument("--target", action="append", default=[],
                   help=f"backend:model, up to {MAX_TARGETS} times (default: the file's model)")
    p.add_argument("--repeat", type=int, default=1, help=f"ask each case N times (1 to {MAX_REPEAT})")
    p.add_argument("--judge", help=f"target for llm/uses evaluators (default: their modelId; built-in judges "
                                   f"and llm evaluators without one: {DEFAULT_JUDGE})")
    p.add_argument("--data", metavar="FILE", help="test rows from a .jsonl or .csv file instead of the file's testData")
    p.add_argument("--limit", type=int, help="only the first N test rows")
    p.add_argument("--max-tokens", type=int, help="override modelParameters.maxTokens")
    p.add_argument("--json", metavar="OUT", nargs="?", const="-",
                   help="the results as JSON (gh models eval --json fields, plus ours): on stdout, or in the file OUT")
    p.add_argument("--group-by", metavar="COLUMN", help="pass rate and interval per value of a test-data column")
    p.add_argument("--csv", metavar="OUT", help="write one CSV row per answer")
    p.add_argument("--no-store", action="store_true", help="do not keep the run in the database")
    p.add_argument("--rerun", metavar="RUN_ID", help="run a stored run again (same file, targets, repeat, judge)")
    p.add_argument("--diff", nargs=2, metavar=("RUN_A", "RUN_B"), help="cases whose verdict flipped between two runs")
    p.add_argument("--runs", action="store_true", help="list stored runs")
    p.set_defaults(func=run)


def _load(args):
    """The prompt file with the rows asked for, and its source name."""
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
        pf = with_rows(pf, pf.rows()[: args.limit])
    return pf, path.name


def _spec(args) -> tuple[EvalSpec, list[str]]:
    """The run to make and what to say before it; BadRequest for anything that stops it before it starts."""
    if args.rerun:
        return results.spec_from_record(storage.load(args.rerun)), []
    if not args.file:
        raise BadRequest("Give a .prompt.yml file (or --rerun RUN_ID, --diff A B, --runs).")
    pf, source = _load(args)
    notes = list(pf.notices)
    targets = args.target
    if not targets:
        # the file's own model, resolved as gh models eval resolves it, never swapped silently
        mapped = target_for_model(pf.model)
        if mapped is None:
            notes.append(f"The file names no model, so it runs on {DEFAULT_JUDGE}; --target picks another.")
            mapped = DEFAULT_JUDGE
        else:
            sentence = unreachable_model(pf.model, mapped)
            if sentence:
                raise BadRequest(sentence)
        targets = [mapped]
    for sentence in unreachable_judges(pf.evaluators, args.judge):
        raise BadRequest(sentence)
    notes += judge_notes(pf.evaluators, args.judge, DEFAULT_JUDGE)
    params = pf.params()
    if args.max_tokens is not None:
        values = params.to_dict()
        values.update(max_tokens=args.max_tokens, unset=sorted(params.unset - {"max_tokens"}))
        params = type(params).from_dict(values)
    return EvalSpec.build(pf, targets, repeat=args.repeat, judge=args.judge, params=params, source=source), notes


def _prepare(args) -> tuple[EvalSpec, list[str]]:
    spec, notes = _spec(args)
    rows = spec.prompt.rows()
    if args.group_by and rows and not any(args.group_by in row for row in rows):
        have = list(dict.fromkeys(k for row in rows for k in row))
        raise BadRequest(f"--group-by {args.group_by}: no test row has that column; the columns are: {', '.join(have)}.")
    for t in set(spec.targets) | set(spec.judges().values()):
        ensure_embedded(Target.parse(t))
    return spec, notes


def _list(args) -> int | None:
    """`eval list`, `--runs` and `--diff`: the commands that run nothing."""
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
    return None


def _progress(spec: EvalSpec):
    fmt = spec.params.response_format
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

    return progress


def run(args) -> int:
    listed = _list(args)
    if listed is not None:
        return listed
    if args.file is None and args.json and args.json.endswith((".yml", ".yaml")):
        args.file, args.json = args.json, "-"  # `eval --json my.prompt.yml`, as gh models eval is called
    try:
        spec, notes = _prepare(args)
    except PlaygroundError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return NOT_RUN
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    fmt = spec.params.response_format
    if fmt.is_json:
        print(f"every case is asked under responseFormat {fmt.kind} (constrained decoding)", file=sys.stderr)
    for line in results.params_sentences(results.request_params(spec, {t: is_local(t) for t in spec.targets})):
        print(line, file=sys.stderr)

    rec = results.record(run_eval(spec, _progress(spec)))
    if not args.no_store:
        rec["id"] = storage.save(rec)
    out = results.gh_json(rec)
    grouped = groups.group_rows(rec, args.group_by) if args.group_by and rec["testResults"] else None
    if grouped is not None:
        out["groups"] = {"column": args.group_by, "rows": grouped}
    if args.json == "-":
        print_json(out)
    elif args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.csv:
        Path(args.csv).write_text(results.to_csv(rec), encoding="utf-8")
    summary = out["summary"]
    if args.json != "-":
        print(f"{rec['name'] or spec.source}: {rec['cases']} case(s) x {spec.repeat} on {len(spec.targets)} target(s)")
        print("\n".join(table(rec, out["summaries"])))
        if grouped is not None:
            print("\n".join(group_table(args.group_by, grouped)))
        print(f"cases passed: {summary['passedTests']} of {summary['totalTests']} ({summary['passRate']:.1f}%)")
    if rec.get("id"):
        print(f"saved as run {rec['id']}", file=sys.stderr)
    return FAILED if summary["failedTests"] else 0
