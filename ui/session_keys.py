"""Keys typed for this browser session: kept in session_state only, never shown back, never stored."""

from __future__ import annotations

import hashlib

import streamlit as st

from services import config

STATE_KEY = "provider_keys"
# settings a person may type on the Models page, with whether the value is a secret
TYPABLE = (("GITHUB_TOKEN", True), ("NVIDIA_API_KEY", True), ("AZURE_AI_ENDPOINT", False),
           ("AZURE_AI_API_KEY", True), ("OPENAI_BASE_URL", False), ("OPENAI_API_KEY", True),
           ("OLLAMA_HOST", False))


def typed() -> dict[str, str]:
    """This session's typed settings."""
    return dict(st.session_state.get(STATE_KEY, {}))


def install() -> None:
    """Make this session's typed keys visible to services for this script run (this thread only)."""
    config.use_session(typed())


def fingerprint() -> str:
    """A one-way digest of the typed settings, so cached target lists differ per session setup."""
    items = sorted(typed().items())
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16] if items else ""


def set_typed(values: dict[str, str]) -> None:
    """Add typed values (blank ones are ignored) and install them."""
    current = typed()
    current.update({k: v.strip() for k, v in values.items() if v and v.strip()})
    st.session_state[STATE_KEY] = current
    install()


def forget() -> None:
    """Drop every typed value."""
    st.session_state[STATE_KEY] = {}
    install()
