"""`bench`: the speed suite (bench/), printed as a markdown table and saved as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark local runtimes: ratios from interleaved runs")
    p.add_argument("--quick", action="store_true", help="fewer tokens, rounds and processes (about 6 minutes on a quiet 2-core machine)")
    p.add_argument("--json", metavar="FILE", help="also write the full report here (default: bench-report.json)")
    p.set_defaults(func=run)


QUALITY = "g. speed x quality"


def write(report, json_path: Path) -> str:
    """Markdown of the report; the JSON goes to json_path."""
    from bench.harness import markdown

    json_path.write_text(json.dumps(report.to_dict(), indent=2))
    # the quality section is a table of its own, printed after the speed report
    quality = report.extra.pop(QUALITY, None)
    try:
        text = markdown(report)
    finally:
        if quality is not None:
            report.extra[QUALITY] = quality
    if quality:
        from bench.quality import markdown as quality_table

        text += "\n" + quality_table(quality)
    return text


def _suite():
    """bench/ is a package beside services/: importable when the command runs from the project root."""
    try:
        from bench import suite
    except ImportError as exc:
        from services.errors import BadRequest

        raise BadRequest("The benchmark suite (bench/) is not importable from here: run "
                         "`python -m services bench` from the project folder.") from exc
    return suite


def run(args) -> int:
    suite = _suite()

    report = suite.run(quick=args.quick, progress=lambda s: print(f"[bench] {s}", file=sys.stderr, flush=True))
    out = Path(args.json or "bench-report.json")
    sys.stdout.write(write(report, out))
    print(f"JSON written to {out}", file=sys.stderr)
    return 0
