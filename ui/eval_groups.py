"""Evaluate page: results grouped by a test-data column (pass rate and interval per group and target),
and what each target's requests carried."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from services.errors import PlaygroundError
from services.evaluate import groups, results
from ui.safe_markdown import plain

NONE = "(no grouping)"


def _pct(v) -> str:
    return "–" if v is None else f"{v:.0%}"


def params_caption(request_params: dict) -> None:
    """One line per target: the sampling parameters sent, and what was left to the server or our default."""
    lines = results.params_sentences(request_params)
    if lines:
        st.caption(plain("Parameters: " + "; ".join(lines) + "."))


def _chart(rows: list[dict], column: str) -> None:
    data = pd.DataFrame([r for r in rows if r["passRate"] is not None])
    if data.empty:
        return
    base = alt.Chart(data).encode(y=alt.Y("group:N", title=column, sort=None, axis=alt.Axis(labelLimit=200)),
                                  yOffset="target:N", color=alt.Color("target:N", legend=alt.Legend(orient="bottom")))
    bars = base.mark_bar().encode(
        x=alt.X("passRate:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="pass rate (95% interval)"),
        tooltip=["group", "target", alt.Tooltip("passRate:Q", format=".0%"), "passed", "ran"])
    whiskers = base.mark_rule(strokeWidth=2, color="black").encode(x="passRateLow:Q", x2="passRateHigh:Q")
    st.altair_chart(bars + whiskers, width="stretch")


def group_section(rec: dict) -> None:
    """A picker of test-data columns; per group and target, pass rate, its interval and counts."""
    cols = groups.columns(rec)
    if not cols:
        return
    # a column named language (the bundled languages example) is offered first
    options = [NONE] + sorted(cols, key=lambda c: c != "language")
    column = st.selectbox("Group results by a test-data column", options, key="ev_group_by",
                          help="pass rate and its 95% interval per value of the column, per target")
    if column == NONE:
        return
    try:
        rows = groups.group_rows(rec, column)
    except PlaygroundError as exc:
        st.warning(plain(exc.user_message()))
        return
    # a plain table: a few rows a person reads and copies as text; st.table renders markdown in every
    # cell, so each one (test-data values and target names are untrusted) goes through plain()
    frame = pd.DataFrame([{column: r["group"], "target": r["target"], "pass rate": _pct(r["passRate"]),
                           "95% interval": "–" if r["passRateLow"] is None
                           else f"{r['passRateLow']:.0%} – {r['passRateHigh']:.0%}",
                           "passed / ran": f"{r['passed']} / {r['ran']}", "errors": r["errors"],
                           "unscored": r["unscored"]} for r in rows])
    st.table(frame.map(plain).rename(columns=plain).set_index(plain(column)))
    _chart(rows, column)
