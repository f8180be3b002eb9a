"""Evaluate page running: the Run button, progress with Stop, keeping a run once, and a queued re-run."""

from __future__ import annotations

import threading

import streamlit as st

from services.errors import PlaygroundError
from services.evaluate import storage
from services.evaluate.promptfile import PromptFile
from services.evaluate.runner import MAX_TARGETS, EvalSpec, start_eval
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import sanitize


def finish_run(live: dict) -> None:
    """Close a run and keep it once (session and store), whichever script run gets here first.

    A Stop click starts the next script run while the stopped one is still closing; the lock makes
    the later one wait. No Streamlit output here: the stopped run may no longer draw.
    """
    state = st.session_state
    with live["lock"]:
        if live.get("done"):
            return
        rec, not_saved = storage.keep(live["run"])
        if not_saved:
            state.ev_flash = not_saved
        state.ev_last = rec
        state.pop("ev_diff", None)
        live["done"] = True
        if state.get("ev_live") is live:
            del state["ev_live"]


def execute(spec: EvalSpec) -> None:
    """Run with a progress bar and a Stop button, then keep the run and redraw from it."""
    for t in set(spec.targets) | set(spec.judges().values()):
        if not ensure_embedded_ready(t):
            st.stop()
    run = start_eval(spec)
    live = st.session_state.ev_live = {"run": run, "lock": threading.Lock()}
    # a click reruns the script, which abandons the loop below; finish_run keeps what finished
    st.button("⏹ Stop", key="ev_halt")
    bar = st.progress(0.0, text=f"0 of {len(run.trials)} answers")
    try:
        for tr in run.events():
            if tr is not None:
                bar.progress(run.done_count / len(run.trials),
                             text=sanitize(f"{run.done_count} of {len(run.trials)} answers · last: {tr.target} "
                                           f"case {tr.case + 1}: {tr.status}"))
    finally:
        finish_run(live)
    st.rerun()


def run_section(pf: PromptFile | None, targets: list[str], repeat: int, judge: str | None, source_name: str,
                *, blocked: bool = False) -> None:
    """The Run button (off with no rows, or while a judge the file names cannot answer); a stopped run
    kept; its warning shown; a re-run asked for by the stored runs started."""
    state = st.session_state
    ready = pf is not None and bool(pf.rows()) and 1 <= len(targets) <= MAX_TARGETS and not blocked
    if st.button("▶ Run evaluation", type="primary", disabled=not ready, key="ev_run"):
        try:
            spec = EvalSpec.build(pf, targets, repeat=repeat, judge=judge, source=source_name)
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))
            st.stop()
        execute(spec)
    if state.get("ev_live") is not None:
        with st.spinner("Stopping the run; finished answers are kept…"):
            finish_run(state.ev_live)
    if state.get("ev_flash"):
        st.warning(sanitize(state.pop("ev_flash")))
    pending = state.pop("ev_pending", None)
    if pending is not None:
        execute(pending)
