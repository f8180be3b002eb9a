"""The valid/invalid badge under an answer given under a JSON response format."""

from __future__ import annotations

import streamlit as st

from services.types import Metrics, ResponseFormat
from ui.safe_markdown import plain


def badge_text(metrics: Metrics | None, response_format: ResponseFormat | None = None) -> tuple[str, str] | None:
    """(colour, text) for an answer's badge; None for free text (no check and nothing to say)."""
    if metrics is None:
        return None
    if metrics.schema_valid is None:
        # a check that could not finish (a pattern cut off, a schema naming another document) says why
        reason = (metrics.schema_error or "").strip()
        return ("orange", f"⚠️ not checked: {reason}") if reason else None
    if metrics.schema_valid:
        against = " against the schema" if response_format is not None and response_format.kind == "json_schema" else ""
        return "green", f"✅ valid JSON{against}"
    # the error quotes the answer, which is model output: one inert line
    error = metrics.schema_error.strip() or "no reason recorded"
    return "red", f"❌ not valid: {error}"


def schema_badge(metrics: Metrics | None, response_format: ResponseFormat | None = None, container=None) -> None:
    """The badge for an answer with its metrics and the response format it was asked for; nothing for free text."""
    shown = badge_text(metrics, response_format)
    if shown is None:
        return
    colour, text = shown
    # st.badge escapes square brackets itself: escaped twice they would close the badge early
    label = plain(text).replace("\\[", "[").replace("\\]", "]")
    (container or st).badge(label, color=colour)
