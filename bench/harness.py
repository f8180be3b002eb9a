"""Interleaved A/B runs, medians, ratios, and the markdown/JSON the suite prints."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable


def interleave(cases: dict[str, Callable[[], dict]], rounds: int, warmup: bool = True) -> dict[str, list[dict]]:
    """Run A B C A B C ... so load changes hit every case alike; one untimed warm-up each first."""
    if warmup:
        for fn in cases.values():
            fn()
    out: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            out[name].append(fn())
    return out


def median(samples: list[dict], key: str) -> float:
    """Median of one metric over the runs that reported it (nan when none did)."""
    vals = [s[key] for s in samples if s.get(key) is not None and not math.isnan(s[key])]
    return statistics.median(vals) if vals else float("nan")


def ratio(a: float, b: float) -> float:
    """a / b, nan when either side is missing."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return float("nan")
    return a / b


@dataclass
class Row:
    """One comparison: A against B, their ratio, and the goal it is held to."""

    section: str
    what: str
    a_label: str
    a: float
    b_label: str
    b: float
    unit: str
    ratio: float
    goal: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    """Everything one suite run measured."""

    machine: dict = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    runtimes: list[dict] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)
    memory: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        return _clean(d)


def _clean(obj):
    """JSON has no NaN: missing numbers become null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def fmt(x, digits: int = 2) -> str:
    """A number for a table cell; a dash when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table(headers: list[str], rows: list[list]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(c) for c in r) + " |")
    return "\n".join(lines)


def markdown(report: Report) -> str:
    """The whole report as markdown: machine line, ratios, runtimes, turns, memory, notes."""
    m = report.machine
    parts = [f"Machine: {m.get('cores')} cores, load average {m.get('load_before')} before / "
             f"{m.get('load_after')} after, read bandwidth {m.get('bandwidth_gbs')} GB/s, "
             f"mode {m.get('mode')}, {m.get('seconds')} s."]
    parts.append(table(["Section", "Comparison", "A", "B", "A/B", "Goal", "Met", "Note"],
                       [[r.section, r.what, f"{r.a_label}: {fmt(r.a)} {r.unit}", f"{r.b_label}: {fmt(r.b)} {r.unit}",
                         r.ratio, r.goal, "-" if r.met is None else ("yes" if r.met else "NO"), r.note]
                        for r in report.rows]))
    if report.runtimes:
        parts.append(table(["Runtime (same weights)", "TTFT s", "Decode tok/s", "Weights MB/token", "Bound tok/s",
                            "Of bound"],
                           [[x["name"], x.get("ttft_s"), x.get("decode_tps"), x.get("weights_mb"),
                             x.get("bound_tps"), x.get("fraction_of_bound")] for x in report.runtimes]))
    if report.turns:
        keys = [k for k in report.turns[0] if k != "turn"]
        parts.append(table(["Turn"] + keys, [[t["turn"]] + [t.get(k) for k in keys] for t in report.turns]))
    if report.memory:
        parts.append(table(["Target", "RSS after load MB", "RSS 1 session MB", "RSS 10 sessions MB", "10/1"],
                           [[x["target"], x.get("load_mb"), x.get("one_mb"), x.get("ten_mb"), x.get("ratio")]
                            for x in report.memory]))
    for name, section in report.extra.items():
        parts.append(f"{name}: " + ", ".join(f"{k}={fmt(v) if not isinstance(v, (dict, list)) else v}"
                                             for k, v in section.items()))
    if report.notes:
        parts.append("\n".join(f"- {n}" for n in report.notes))
    return "\n\n".join(parts) + "\n"
