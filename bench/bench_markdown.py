"""The untrusted-text renderer on hostile input: seconds per text, as a markdown table.

    python -m bench.bench_markdown [--quick]

Rows: 1 MB of each pathological shape (over the bound, so shown as escaped plain text), the same
shapes at the largest size that is still parsed (ui/safe_markdown.MAX_FORMATTED), and a 200 KB
mix of every payload class. Each figure is the best of a few runs; the load average is printed
because the machine is shared.
"""

from __future__ import annotations

import os
import sys
import time


from ui.safe_markdown import MAX_FORMATTED, sanitize  # noqa: E402

SHAPES = ["[x](", "![", "[![", "[", "`a", "<a ", "*a", "**a", "_a", "~~a", "&#", "\\", "a\n", "> ", "- a\n  ",
          "|a|\n|-|\n", "[a]: "]


def best(text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sanitize(text)
        times.append(time.perf_counter() - start)
    return min(times)


def run(quick: bool = False) -> dict:
    runs = 1 if quick else 3
    rows = []
    for unit in SHAPES:
        big = unit * (1_000_000 // len(unit))
        near = (unit * (MAX_FORMATTED // len(unit) + 1))[:MAX_FORMATTED]
        rows.append((repr(unit), best(big, runs), best(near, runs)))
    from tests.unit.test_safe_markdown import PAYLOADS

    mix = "\n\n".join(PAYLOADS.values())
    mix = (mix * (200_000 // len(mix) + 1))[:200_000]
    return {"rows": rows, "mix_200k": best(mix, runs), "load": os.getloadavg()[0]}


def main() -> None:
    result = run("--quick" in sys.argv)
    print(f"load average {result['load']:.1f}; formatted up to {MAX_FORMATTED:,} characters\n")
    print(f"| shape repeated | 1 MB (s) | {MAX_FORMATTED:,} characters (s) |")
    print("|---|---|---|")
    for name, big, near in result["rows"]:
        print(f"| `{name}` | {big:.3f} | {near:.3f} |")
    worst_big = max(r[1] for r in result["rows"])
    worst_near = max(r[2] for r in result["rows"])
    print(f"| worst | {worst_big:.3f} | {worst_near:.3f} |")
    print(f"\n200 KB of every payload class mixed: {result['mix_200k']:.3f} s")


if __name__ == "__main__":
    main()
