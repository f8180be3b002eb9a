"""Prompt files of nested YAML anchors (the billion-laughs shape): time and peak memory to read or refuse.

    python -m bench.bench_prompt_aliases

Each level names the one below ten times, so a few hundred bytes stand for 10**levels values once the
aliases are resolved; the reader counts them without resolving them (services/evaluate/yaml_reader.py).
Times are the best of three runs; peak memory is Python's own allocations (tracemalloc) in one run.
"""

from __future__ import annotations

import os
import time
import tracemalloc

from services.errors import BadRequest
from services.evaluate import promptfile
from services.evaluate.yaml_reader import MAX_VALUES


def nested_anchors(levels: int, fan: int = 10) -> str:
    lines = ["l0: &l0 [" + ", ".join(["x"] * fan) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nmessages:\n  - {role: user, content: hi}\n"


def measure(text: str) -> tuple[str, float, float]:
    def once() -> str:
        try:
            promptfile.loads(text)
            return "read"
        except BadRequest:
            return "refused"

    times = []
    for _ in range(3):
        start = time.perf_counter()
        outcome = once()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        once()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome, min(times), peak / 1e6


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.1f}; bound {MAX_VALUES:,} values once aliases are resolved\n")
    print("| levels | file bytes | values once resolved | outcome | ms | peak MB |")
    print("|---|---|---|---|---|---|")
    for levels in range(1, 13):
        text = nested_anchors(levels)
        outcome, seconds, peak = measure(text)
        resolved = sum(10 ** k for k in range(1, levels + 2))
        print(f"| {levels} | {len(text)} | {resolved:,} | {outcome} | {seconds * 1000:.1f} | {peak:.2f} |")


if __name__ == "__main__":
    main()
