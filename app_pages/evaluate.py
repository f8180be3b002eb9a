"""Evaluate page: a `.prompt.yml` with test data and evaluators on 1 to 4 targets, with honest numbers."""

from __future__ import annotations

import streamlit as st

from services.evaluate.promptfile import MAX_ROWS
from services.evaluate.runner import MAX_TARGETS
from ui.eval_file import file_notes, file_summary, pick_prompt_file, propose_targets, run_settings
from ui.eval_run import run_section
from ui.eval_views import results_section, stored_runs
from ui.target_picker import all_targets

st.title("📏 Evaluate")
st.caption("One prompt over many inputs, scored: a GitHub `.prompt.yml` (test data and evaluators) on 1 to "
           f"{MAX_TARGETS} targets at once, with pass rates and their 95% intervals. Up to {MAX_ROWS:,} rows per file.")

by_name = {i.target: i for i in all_targets()}
pf, source_name, file_key = pick_prompt_file()
propose_targets(pf, file_key, by_name)
with st.sidebar:
    targets, repeat, judge = run_settings(by_name)
stops: list[str] = []
if pf is not None:
    file_summary(pf, source_name, targets, repeat, by_name)
    stops = file_notes(pf, judge, by_name)

run_section(pf, targets, repeat, judge, source_name, blocked=bool(stops))
if st.session_state.get("ev_last"):
    results_section(st.session_state.ev_last)
stored_runs()
