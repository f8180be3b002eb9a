"""`eval`'s printed tables: per target and per group."""

from __future__ import annotations


def _rate(s: dict) -> tuple[str, str]:
    rate = f"{s['passRate']:.0%}" if s["passRate"] is not None else "–"
    ci = f"{s['passRateLow']:.0%}–{s['passRateHigh']:.0%}" if s["passRateLow"] is not None else "–"
    return rate, ci


def table(rec: dict, summaries: dict) -> list[str]:
    """The per-target table: pass rate with its 95% interval, counts, scores, latency and tokens."""
    kind = ((rec.get("params") or {}).get("response_format") or {}).get("kind", "text")
    lines = [f"{'target':44s} {'pass rate':>9s} {'95% CI':>13s} {'passed/ran':>11s} {'err':>4s} {'unsc':>4s} "
             f"{'s/case':>7s} {'tok/case':>8s}"]
    for t, s in summaries.items():
        rate, ci = _rate(s)
        lat = f"{s['meanLatencyS']:.2f}" if s["meanLatencyS"] is not None else "–"
        tok = f"{s['meanCompletionTokens']:.0f}" if s["meanCompletionTokens"] is not None else "–"
        lines.append(f"{t:44s} {rate:>9s} {ci:>13s} {s['passed']:>5d}/{s['ran']:<5d} {s['errors']:>4d} "
                     f"{s['unscored']:>4d} {lat:>7s} {tok:>8s}")
        if s.get("schemaChecked"):
            lines.append(f"    valid under responseFormat {kind}: {s['schemaValid']} of {s['schemaChecked']} answers")
        for name, e in s["evaluators"].items():
            mean = f"{e['mean']:.2f}" if e["mean"] is not None else "–"
            extra = f", {e['unscored']} unscored" if e["unscored"] else ""
            lines.append(f"    {name}: mean score {mean} over {e['n']}{extra}")
    return lines


def group_table(column: str, rows: list[dict]) -> list[str]:
    """Pass rate and interval per group (a test-data column's value) and target."""
    width = max([len(column)] + [len(r["group"]) for r in rows])
    lines = [f"{column:{width}s} {'target':44s} {'pass rate':>9s} {'95% CI':>13s} {'passed/ran':>11s}"]
    for r in rows:
        rate, ci = _rate(r)
        lines.append(f"{r['group']:{width}s} {r['target']:44s} {rate:>9s} {ci:>13s} {r['passed']:>5d}/{r['ran']:<5d}")
    return lines
