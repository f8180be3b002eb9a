"""`python -m bench`: the speed suite, printed as a markdown table and saved as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.phi import cli as phi_cli


def build_parser() -> argparse.ArgumentParser:
    """The flags of `python -m bench`."""
    p = argparse.ArgumentParser(prog="python -m bench", description="Benchmark local runtimes: ratios from interleaved runs.")
    p.add_argument("--quick", action="store_true", help="fewer tokens, rounds and processes (about 6 minutes on a quiet 2-core machine)")
    p.add_argument("--json", metavar="FILE", help="also write the full report here (default: bench-report.json)")
    return p


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


def run(args) -> int:
    """Run the suite; the table goes to stdout, progress to stderr."""
    from bench import suite

    report = suite.run(quick=args.quick, progress=lambda s: print(f"[bench] {s}", file=sys.stderr, flush=True))
    out = Path(args.json or "bench-report.json")
    sys.stdout.write(write(report, out))
    print(f"JSON written to {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench`; `python -m bench phi ...` is the Phi-sized bench (bench/phi/)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["phi"]:
        return phi_cli.main(argv[1:])
    return run(build_parser().parse_args(argv))
