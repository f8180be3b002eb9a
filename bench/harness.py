"""Interleaved A/B runs, medians, ratios, and the markdown/JSON the suite prints."""

from __future__ import annotations

import math
import os
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


def interleave_processes(cases: dict[str, dict], rounds: int, spawn: Callable[[dict], dict]) -> dict[str, list[dict]]:
    """One fresh process per case per round, A B C A B C ...: each result is one process's own numbers."""
    out: dict[str, list[dict]] = {name: [] for name in cases}
    for r in range(rounds):
        for name, spec in cases.items():
            res = spawn(spec)
            res["round"] = r
            out[name].append(res)
    return out


def spread(values: list[float]) -> list[float] | None:
    """[min, median, max] of the values present; None when there are none."""
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return None
    return [vals[0], statistics.median(vals), vals[-1]]


def round_ratios(a: list[dict], b: list[dict], key: str) -> list[float]:
    """A/B per round: the two processes of a round ran next to each other, under the same load."""
    by_round = {x.get("round"): x.get(key) for x in b if "error" not in x}
    pairs = [ratio(x.get(key), by_round.get(x.get("round"))) for x in a if "error" not in x]
    return [r for r in pairs if not math.isnan(r)]  # a round where either side failed has no ratio


def load_average() -> float:
    """The 1-minute load average, rounded: how busy the machine was around a measurement."""
    return round(os.getloadavg()[0], 2)


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
    # [min, median, max] over processes (a, b) and over per-round ratios; None for in-process rows
    a_spread: list[float] | None = None
    b_spread: list[float] | None = None
    ratio_spread: list[float] | None = None


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


def cell(label: str, value: float, unit: str, sp: list[float] | None) -> str:
    """'label: value unit', with the min-max range over processes when there is one."""
    text = f"{label}: {fmt(value)} {unit}"
    return text + f" ({fmt(sp[0])}-{fmt(sp[2])})" if sp else text


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
                       [[r.section, r.what, cell(r.a_label, r.a, r.unit, r.a_spread),
                         cell(r.b_label, r.b, r.unit, r.b_spread),
                         fmt(r.ratio) + (f" ({fmt(r.ratio_spread[0])}-{fmt(r.ratio_spread[2])})" if r.ratio_spread else ""),
                         r.goal, "-" if r.met is None else ("yes" if r.met else "NO"), r.note]
                        for r in report.rows]))
    if report.runtimes:
        parts.append(table(["Runtime (same weights, own process)", "TTFT s", "Decode tok/s", "min-max over processes",
                            "Weights MB/token", "Bound tok/s", "Of bound"],
                           [[x["name"], x.get("ttft_s"), x.get("decode_tps"),
                             f"{fmt(x['spread'][0])}-{fmt(x['spread'][2])} ({x.get('processes')})" if x.get("spread") else "-",
                             x.get("weights_mb"), x.get("bound_tps"), x.get("fraction_of_bound")]
                            for x in report.runtimes]))
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
