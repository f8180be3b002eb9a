"""MoE page, Problem set tab: pick problems and targets, run them, show accuracy and the per-problem table."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from services.errors import PlaygroundError
from services.evaluate.problem_set import (
    BUNDLED,
    DIFFICULTIES,
    Problem,
    load_problems,
    parse_problems,
    run_suite,
    save_suite,
)
from services.types import GenerationParams
from ui.file_download import file_download
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import plain, sanitize
from ui.target_picker import all_targets
from ui.upload_cache import parse_once


def _problems() -> list[Problem]:
    """The uploaded set, else the bundled one; a bad file is one sentence and no problems."""
    upload = st.file_uploader("Problem set (JSONL)", type=["jsonl", "json", "txt"], key="moe_suite_file",
                              help=f"leave empty for the bundled set ({plain(BUNDLED.name)})")
    try:
        if upload is None:
            return load_problems()
        # parsed once per file (by its digest), not on every rerun while it stays in the uploader
        return parse_once("problem set", upload.getvalue(), parse_problems)
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        return []


def suite_tab(target: str, *, ready: bool, params: GenerationParams | None) -> None:
    """The Problem set tab: filters, targets, Run (with Stop), then the kept run's tables and downloads."""
    state = st.session_state
    problems = _problems()
    if problems:
        cats = sorted({p.category for p in problems})
        c1, c2 = st.columns(2)
        chosen_cats = c1.multiselect("Categories", cats, default=cats, key="moe_suite_cats")
        diffs = c2.multiselect("Difficulty", list(DIFFICULTIES), default=list(DIFFICULTIES), key="moe_suite_diffs")
        subset = [p for p in problems if p.category in chosen_cats and p.difficulty in diffs]
        limit = int(st.number_input("How many problems", 1, max(len(subset), 1), max(len(subset), 1),
                                    key="moe_suite_limit"))
        names = [i.target for i in all_targets() if i.available]
        targets = st.multiselect("Targets", names, default=[target] if target in names else [],
                                 key="moe_suite_targets", help="run the same problems on each to compare")
        suite_step = st.toggle("Step by step", value=True, key="moe_suite_steps")
        st.caption(f"{min(limit, len(subset)):d} problems x {len(targets)} target(s); sampling as in Parameters "
                   "(temperature 0 gives repeatable scores).")
        if st.button("Run problem set", key="moe_suite_run", disabled=not (subset and targets and ready)):
            if all(ensure_embedded_ready(t) for t in targets):
                st.button("⏹ Stop", key="moe_suite_halt")
                bar = st.progress(0.0)

                def step_done(done, total, o):
                    bar.progress(done / total, text=sanitize(f"{done}/{total}: {o.target} {o.problem_id}"))

                try:
                    run = run_suite(subset[:limit], targets, params, step_by_step=suite_step, on_outcome=step_done)
                    state.moe_suite = run
                    state.moe_suite_id = save_suite(run)
                except PlaygroundError as exc:
                    st.error(sanitize(exc.user_message()))
                bar.empty()
    run = state.get("moe_suite")
    if run:
        st.subheader("Accuracy")
        st.dataframe(pd.DataFrame(run.score_rows()), hide_index=True)
        st.subheader("Per problem")
        # one row per problem, one column per target: easy to see where two models disagree
        st.dataframe(pd.DataFrame(run.problem_rows()), hide_index=True)
        c1, c2 = st.columns(2)
        file_download("Results JSON", json.dumps(run.to_dict(), ensure_ascii=False, indent=1),
                      file_name="reasoning-suite.json", mime="application/json", key="moe_suite_json", where=c1)
        file_download("Results CSV", run.to_csv(), file_name="reasoning-suite.csv", mime="text/csv",
                      key="moe_suite_csv_dl", where=c2)
        if state.get("moe_suite_id"):
            st.caption(f"Saved in the database as run {plain(state.moe_suite_id)}.")
