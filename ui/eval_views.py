"""Evaluate page views: per-target table, pass-rate chart with 95% intervals, results grid, one cell's detail."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from ui.metrics_card import metrics_line
from ui.safe_markdown import plain, show

MARK = {"pass": "✓", "fail": "✗", "unscored": "?", "error": "⚠", "cancelled": "–"}


def _pct(v) -> str:
    return "–" if v is None else f"{v:.0%}"


def summary_table(rec: dict) -> None:
    """One row per target: pass rate, its interval, counts, mean score per evaluator, latency, tokens."""
    rows = []
    for t, s in rec["summaries"].items():
        row = {"target": t, "pass rate": _pct(s["passRate"]),
               "95% interval": "–" if s["passRateLow"] is None else f"{s['passRateLow']:.0%} – {s['passRateHigh']:.0%}",
               "passed / graded": f"{s['passed']} / {s['graded']}", "errors": s["errors"], "unscored": s["unscored"],
               "s per case": s["meanLatencyS"], "tokens out per case": s["meanCompletionTokens"]}
        if any(x.get("schemaChecked") for x in rec["summaries"].values()):
            # only runs under a JSON response format get the column
            row["valid JSON"] = f"{s.get('schemaValid', 0)} / {s.get('schemaChecked', 0)}"
        for name, e in s["evaluators"].items():
            row[f"{name} (mean)"] = e["mean"]
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def pass_rate_chart(rec: dict) -> None:
    """A bar per target with its 95% Wilson interval drawn as an error bar."""
    data = pd.DataFrame([{"target": t, "pass rate": s["passRate"], "low": s["passRateLow"], "high": s["passRateHigh"],
                          "graded": s["graded"]}
                         for t, s in rec["summaries"].items() if s["passRate"] is not None])
    if data.empty:
        st.caption("No graded answers yet: no pass rate to chart.")
        return
    base = alt.Chart(data).encode(y=alt.Y("target:N", title=None, axis=alt.Axis(labelLimit=360)))
    bars = base.mark_bar().encode(
        x=alt.X("pass rate:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="pass rate (95% interval)"),
        tooltip=["target", alt.Tooltip("pass rate:Q", format=".0%"), alt.Tooltip("low:Q", format=".0%"),
                 alt.Tooltip("high:Q", format=".0%"), "graded"])
    whiskers = base.mark_rule(strokeWidth=2, color="black").encode(x="low:Q", x2="high:Q")
    st.altair_chart(bars + whiskers, width="stretch")


def grid_frame(rec: dict) -> pd.DataFrame:
    """Cases x targets; each cell is the verdict over the repeats (✓ 2/3 ...)."""
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
    return pd.DataFrame(out)


def grid(rec: dict, key: str) -> tuple[int, str] | None:
    """The grid; a clicked cell in a target column returns (case, target)."""
    frame = grid_frame(rec)
    event = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-cell", key=key)
    cells = (event.selection or {}).get("cells", []) if event else []
    if cells:
        row, col = cells[0]
        if col in rec["targets"]:
            return int(frame.iloc[row]["case"]) - 1, col
    return None


def cell_detail(rec: dict, case: int, target: str) -> None:
    """Each answer of one case on one target, with every evaluator's verdict and details."""
    trials = [t for t in rec["testResults"] if t["case"] == case and t["target"] == target]
    if not trials:
        st.caption("No answer for this case on this target.")
        return
    st.caption("Test row: " + plain(str(trials[0]["testCase"])[:500]))
    for t in trials:
        head = f"{MARK[t['status']]} {t['status']}" + (f" · repeat {t['repeat'] + 1}" if len(trials) > 1 else "")
        with st.container(border=True):
            st.markdown(f"**{plain(head)}**")
            show(t["modelResponse"] or "(no answer)")
            if t["error"]:
                st.error(plain(t["error"]))
            if t.get("schemaValid") is True:
                st.caption("✓ valid under the response format")
            elif t.get("schemaValid") is False:
                st.caption(plain(f"✗ not valid under the response format: {t.get('schemaError') or 'no detail'}"))
            if t["metrics"]:
                st.caption(plain(metrics_line(t["metrics"], t.get("finishReason"))))
            if t["evaluationResults"]:
                st.dataframe(pd.DataFrame([{"evaluator": r["evaluatorName"], "verdict": r["status"], "score": r["score"],
                                            "details": r["details"]} for r in t["evaluationResults"]]),
                             hide_index=True, width="stretch")


def flips_table(flips: list[dict]) -> None:
    """Cases whose verdict changed between two runs."""
    if not flips:
        st.caption("No case changed its verdict.")
        return
    st.dataframe(pd.DataFrame([{"case": f["case"] + 1, "target": f["target"], "before": f["before"],
                                "after": f["after"], "test row": str(f["testCase"])[:120]} for f in flips]),
                 hide_index=True, width="stretch")
