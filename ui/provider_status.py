"""One provider's card on the Models page: state, settings (masked), reachability, targets."""

from __future__ import annotations

import streamlit as st

from services.provider_status import ProviderStatus
from ui.safe_markdown import plain, sanitize


def _state_line(s: ProviderStatus) -> tuple[str, str]:
    if not s.configured:
        return "⚪", "not configured"
    if s.reachable is False:
        return "🔴", "not reachable"
    if s.reachable:
        return "🟢", "reachable"
    return "🟡", "configured, not checked yet"


def render(s: ProviderStatus, *, on_check) -> None:
    """Draw the card; on_check(name) runs when its Test connection button is clicked."""
    icon, words = _state_line(s)
    available = [t for t in s.targets if t.available]
    with st.expander(plain(f"{icon} {s.title} — {words} · {len(available)}/{len(s.targets)} targets"),
                     expanded=s.configured):
        if s.needs:
            st.info(sanitize(s.needs))
        for setting in s.settings:
            if setting.is_set:
                # secrets arrive masked (ghp_…x1y2); addresses are shown as they are
                st.markdown(sanitize(f"`{setting.name}`: `{setting.masked}` (from {setting.source})"))
            else:
                st.markdown(sanitize(f"`{setting.name}`: not set"))
            if setting.note:
                st.caption(sanitize(f"`{setting.name}`: {setting.note}."))
        if s.base_url:
            st.caption(f"Address: {plain(s.base_url)}")
        if s.last_error:
            st.warning(sanitize(f"Last error: {s.last_error}"))
        if s.configured and s.name != "llamacpp":
            st.button("Test connection", key=f"models_check_{s.name}", on_click=on_check, args=(s.name,))
        rows = [{"target": t.target, "family": t.family, "available": "yes" if t.available else "no",
                 "why not": t.reason, "context": t.capabilities.context_length,
                 "images": "yes" if t.capabilities.images else ""} for t in s.targets]
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
