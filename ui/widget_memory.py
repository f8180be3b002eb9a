"""Widget values that survive a visit to another page (Streamlit drops the state of widgets a run does not draw)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st


def remember(key: str, valid: Callable[[object], bool] = lambda _v: True) -> None:
    """Call before drawing widget `key`: keep its value, or put it back after another page was shown."""
    state = st.session_state
    kept = f"_kept_{key}"
    if key in state:
        state[kept] = state[key]
    elif kept in state and valid(state[kept]):
        state[key] = state[kept]
