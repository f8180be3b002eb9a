"""Compare page sections below the run: the last run with blind votes, the run file loader, the Elo table."""

from __future__ import annotations

import time

import streamlit as st

from services.compare import runfile, saved
from services.errors import PlaygroundError
from ui.compare_columns import column_name, diff_panel, result_columns, speed_chart
from ui.compare_judge import judge_panel
from ui.file_download import file_download
from ui.safe_markdown import plain, sanitize
from ui.upload_cache import parse_once

VOTES = {"a": "👈 A is better", "b": "👉 B is better", "tie": "🤝 Tie", "both_bad": "👎 Both are bad"}
# the prompt above a run's columns is cut here: the answers are what the section is about
PROMPT_PREVIEW_CHARS = 300


def _vote(kept: saved.Saved, outcome: str) -> None:
    problem = saved.vote(kept, outcome)
    if problem:
        st.session_state.cmp_flash = problem


def last_run(kept: saved.Saved, names: list[str]) -> None:
    """The finished run: columns, blind voting until a vote, then speeds, diff, export and judge."""
    run, results = kept.run, kept.run["results"]
    hidden = kept.blind and kept.voted is None
    headers = [column_name(i, r["target"], hidden) for i, r in enumerate(results)]
    st.caption(f"Prompt: {plain(run['prompt'][:PROMPT_PREVIEW_CHARS])}")
    result_columns(results, headers, show_metrics=not hidden)
    if hidden:
        if all(not r.get("error") for r in results):
            st.markdown("**Which answer is better?** The names show after you vote.")
            for col, (outcome, text) in zip(st.columns(4), VOTES.items(), strict=True):
                col.button(plain(text), key=f"cmp_vote_{outcome}", on_click=_vote, args=(kept, outcome),
                           use_container_width=True)
        else:
            kept.voted = "none"  # a column failed: nothing fair to vote on, so the names show
            st.rerun()
    else:
        if kept.blind and kept.voted in VOTES:
            st.success(sanitize(f"You voted {VOTES[kept.voted]}. Model A was {results[0]['target']}, "
                                f"Model B was {results[1]['target']}."))
        if run.get("wall_s"):
            st.caption(f"Wall time for the whole run: {run['wall_s']:.2f} s")
        st.subheader("Speed")
        speed_chart(results, headers)
    st.subheader("Word diff")
    # a new key once names show, so the pickers relabel from "Model A" to the target
    diff_panel(results, headers, "cmp_diff_hidden" if hidden else "cmp_diff")
    if not hidden:
        file_download("⬇ Export run (JSON)", runfile.dumps(run), key="cmp_export", mime="application/json",
                      file_name=f"compare-run-{time.strftime('%Y%m%d-%H%M%S')}.json")
        judge_panel(run, names)


def _read_run_file(raw: bytes):
    loaded = runfile.loads(raw)
    return loaded, runfile.spec_from_run(loaded)


def run_file_loader() -> None:
    """Load an exported run: show its results, or queue it to run again (state.cmp_pending)."""
    state = st.session_state
    with st.expander("Load a run file"):
        upload = st.file_uploader("A run file exported from this page or `compare --export`", type=["json"],
                                  key="cmp_upload")
        if upload is None:
            return
        try:
            # read once per file (by its digest): the file stays in the uploader across reruns
            loaded, loaded_spec = parse_once("run file", upload.getvalue(), _read_run_file)
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))
            return
        st.caption(f"Prompt: {plain(loaded['prompt'][:PROMPT_PREVIEW_CHARS])} · targets: "
                   f"{plain(', '.join(loaded_spec.targets))} · {len(loaded_spec.images)} image(s)")
        c1, c2 = st.columns(2)
        if c1.button("Show its results", key="cmp_show_loaded", disabled=not loaded.get("results")):
            state.cmp_last = saved.Saved(loaded)
            st.rerun()
        if c2.button("Re-run it", key="cmp_rerun", type="primary"):
            # run it in the main area, not inside this expander
            state.cmp_pending = loaded_spec
            st.rerun()


def leaderboard() -> None:
    """The Elo table from every stored blind vote."""
    with st.expander("Leaderboard (blind votes)"):
        rows, problem = saved.leaderboard()
        if problem:
            st.warning(sanitize(problem))
        if rows:
            st.dataframe(rows, hide_index=True, use_container_width=True, column_config={
                "target": "Target", "votes": "Votes", "wins": "Wins", "losses": "Losses", "ties": "Ties",
                "both_bad": "Both bad",
                "elo": st.column_config.NumberColumn("Elo", format="%.0f"),
                "win_rate": st.column_config.NumberColumn("Win rate", format="percent"),
            })
        else:
            st.caption("No votes yet: turn on blind mode, compare two targets and vote.")
