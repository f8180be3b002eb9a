"""Compare's Judge action: a pairwise judge over the current columns, asked in both orders."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services.errors import PlaygroundError
from services.evaluate.pairwise import judge_columns
from services.evaluate.runner import DEFAULT_JUDGE
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import sanitize


def judge_panel(run: dict, names: list[str], key: str = "cmp_judge") -> None:
    """Pick a judge, click Judge: per pair of columns, the winner only when both orders agree."""
    with st.expander("⚖ Judge these answers"):
        st.caption("Each pair of answers goes to the judge twice, A and B swapped; a winner is reported only "
                   "when both orders agree, so a judge that favours a position gives no verdict.")
        index = names.index(DEFAULT_JUDGE) if DEFAULT_JUDGE in names else 0
        judge = st.selectbox("Judge target", names, index=index, key=f"{key}_target")
        if st.button("⚖ Judge", key=f"{key}_run"):
            # the whole target: the check waits only for the caches this judge's runtime needs
            if ensure_embedded_ready(judge):
                try:
                    with st.spinner("Asking the judge, both orders…"):
                        st.session_state[f"{key}_result"] = {
                            "run": (run.get("id"), run["prompt"]), "pairs": judge_columns(run["prompt"], run["results"], judge)}
                except PlaygroundError as exc:
                    st.error(sanitize(exc.user_message()))
        got = st.session_state.get(f"{key}_result")
        if got and got["run"] == (run.get("id"), run["prompt"]):
            st.dataframe(pd.DataFrame([{k: v for k, v in p.items() if k != "replies"} for p in got["pairs"]]),
                         hide_index=True, width="stretch")
