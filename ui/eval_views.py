"""Evaluate page views: the results (table, 95% interval chart, grid, one cell, downloads) and the stored runs."""

from __future__ import annotations

import json
import time

import altair as alt
import pandas as pd
import streamlit as st

from services.errors import PlaygroundError
from services.evaluate import results, storage
from services.evaluate.results import MARK
from services.types import Metrics
from ui.eval_groups import group_section, params_caption
from ui.file_download import file_download
from ui.metrics_card import metrics_line
from ui.safe_markdown import plain, sanitize, show


def _pct(v) -> str:
    return "–" if v is None else f"{v:.0%}"


def summary_table(rec: dict, summaries: dict) -> None:
    """One row per target: pass rate, its interval, counts, mean score per evaluator, latency, tokens."""
    rows = []
    for t, s in summaries.items():
        row = {"target": t, "pass rate": _pct(s["passRate"]),
               "95% interval": "–" if s["passRateLow"] is None else f"{s['passRateLow']:.0%} – {s['passRateHigh']:.0%}",
               "passed / ran": f"{s['passed']} / {s['ran']}", "failed": s["failed"], "unscored": s["unscored"],
               "errors": s["errors"], "s per case": s["meanLatencyS"], "tokens out per case": s["meanCompletionTokens"]}
        if any(x.get("schemaChecked") for x in summaries.values()):
            # only runs under a JSON response format get the column
            row["valid JSON"] = f"{s.get('schemaValid', 0)} / {s.get('schemaChecked', 0)}"
        for name, e in s["evaluators"].items():
            row[f"{name} (mean)"] = e["mean"]
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def pass_rate_chart(summaries: dict) -> None:
    """A bar per target with its 95% Wilson interval drawn as an error bar."""
    data = pd.DataFrame([{"target": t, "pass rate": s["passRate"], "low": s["passRateLow"], "high": s["passRateHigh"],
                          "ran": s["ran"]}
                         for t, s in summaries.items() if s["passRate"] is not None])
    if data.empty:
        st.caption("No answers yet: no pass rate to chart.")
        return
    base = alt.Chart(data).encode(y=alt.Y("target:N", title=None, axis=alt.Axis(labelLimit=360)))
    bars = base.mark_bar().encode(
        x=alt.X("pass rate:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="pass rate (95% interval)"),
        tooltip=["target", alt.Tooltip("pass rate:Q", format=".0%"), alt.Tooltip("low:Q", format=".0%"),
                 alt.Tooltip("high:Q", format=".0%"), "ran"])
    whiskers = base.mark_rule(strokeWidth=2, color="black").encode(x="low:Q", x2="high:Q")
    st.altair_chart(bars + whiskers, width="stretch")


def grid(rec: dict, key: str) -> tuple[int, str] | None:
    """The grid; a clicked cell in a target column returns (case, target)."""
    frame = pd.DataFrame(results.grid_rows(rec))
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
                st.caption(plain(metrics_line(Metrics.from_dict(t["metrics"]), t.get("finishReason"))))
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


def results_section(rec: dict) -> None:
    """The last run: its table, chart, grid, the chosen cell's answers, and the downloads."""
    state = st.session_state
    st.subheader("Results")
    note = " · stopped early: only finished answers count" if rec["stopped"] else ""
    st.caption(plain(f"{rec['name'] or rec['source']} · {rec['cases']} case(s) x {rec['repeat']} · "
                     f"{rec['created']}{note}" + (f" · saved as run {rec['id']}" if rec.get("id") else "")))
    for sentence in (rec.get("refused") or {}).values():
        st.warning(plain(sentence))
    summaries = results.target_summaries(rec)
    summary_table(rec, summaries)
    case = results.case_summary(rec["testResults"])
    st.caption(plain(f"Cases passed: {case['passedTests']} of {case['totalTests']} ({case['passRate']:.0f}%), as "
                     "gh models eval counts them: an answer passes when every evaluator passed; a failed check, a "
                     "judge reply that matched no choice (unscored) and a model call that failed (error) all count "
                     "as not passed, and are counted apart."))
    params_caption(rec.get("requestParams") or {})
    pass_rate_chart(summaries)
    group_section(rec)
    st.markdown("**Cases x targets** (click a cell, or choose below, to read the answer and each verdict)")
    clicked = grid(rec, "ev_grid")
    if clicked is not None:
        state.ev_cell_case, state.ev_cell_target = clicked[0] + 1, clicked[1]
    d1, d2 = st.columns([1, 3])
    case = int(d1.number_input("Case", 1, max(rec["cases"], 1), key="ev_cell_case")) - 1
    if state.get("ev_cell_target") not in rec["targets"]:
        state.ev_cell_target = rec["targets"][0]
    cell_target = d2.selectbox("Target", rec["targets"], key="ev_cell_target")
    cell_detail(rec, case, cell_target)
    c1, c2 = st.columns(2)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    gh_json = json.dumps(results.gh_json(rec), ensure_ascii=False, indent=1)
    file_download("⬇ Results JSON (gh models eval fields)", gh_json, file_name=f"eval-{stamp}.json",
                  mime="application/json", key="ev_json", where=c1)
    file_download("⬇ Results CSV", results.to_csv(rec), file_name=f"eval-{stamp}.csv", mime="text/csv",
                  key="ev_csv", where=c2)


def stored_runs() -> None:
    """Stored runs: show one, queue it again (the page starts it), or list the cases that flipped against another."""
    state = st.session_state
    with st.expander("Stored runs: show, re-run, diff"):
        try:
            stored = storage.recent(30)
        except PlaygroundError as exc:
            st.warning(sanitize(f"Stored runs cannot be read: {exc.user_message()}"))
            stored = []
        if not stored:
            st.caption("No stored runs yet.")
            return
        by_id = {r["id"]: r for r in stored}

        def run_label(i: str) -> str:
            r = by_id[i]
            return f"{r['created']} · {r['name'] or r['source']} · {', '.join(r['targets'])}"

        chosen = st.selectbox("Run", list(by_id), format_func=run_label, key="ev_stored")
        b1, b2 = st.columns(2)
        if b1.button("Show it", key="ev_show_stored"):
            state.ev_last = by_id[chosen]
            st.rerun()
        if b2.button("Re-run it", key="ev_rerun"):
            try:
                state.ev_pending = results.spec_from_record(by_id[chosen])
            except PlaygroundError as exc:
                st.error(sanitize(exc.user_message()))
            else:
                st.rerun()
        other = st.selectbox("Diff against", [i for i in by_id if i != chosen], format_func=run_label,
                             key="ev_diff_with", index=None, placeholder="Pick another run…")
        if other:
            st.caption("Cases whose verdict flipped (majority over repeats), same case and test row, same target:")
            flips_table(results.diff(by_id[other], by_id[chosen]))
