"""The valid/invalid badge under an answer given under a JSON response format."""

from __future__ import annotations

import streamlit as st

from ui.safe_markdown import plain


def badge_text(metrics: dict | None, params: dict | None = None) -> tuple[str, str] | None:
    """(colour, text) for an answer's badge; None when the answer was not checked (free text)."""
    m = metrics or {}
    valid = m.get("schema_valid")
    if valid is None:
        return None
    fmt = (params or {}).get("response_format") or {}
    if valid:
        against = " against the schema" if isinstance(fmt, dict) and fmt.get("kind") == "json_schema" else ""
        return "green", f"✅ valid JSON{against}"
    # the error quotes the answer, which is model output: one inert line
    error = str(m.get("schema_error") or "").strip() or "no reason recorded"
    return "red", f"❌ not valid: {error}"


def schema_badge(metrics: dict | None, params: dict | None = None, container=None) -> None:
    """The badge for an answer with its metrics and (stored) parameters; nothing for free text."""
    shown = badge_text(metrics, params)
    if shown is None:
        return
    colour, text = shown
    # st.badge escapes square brackets itself: escaped twice they would close the badge early
    label = plain(text).replace("\\[", "[").replace("\\]", "]")
    (container or st).badge(label, color=colour)
