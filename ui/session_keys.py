"""Keys typed for this browser session: kept in session_state only, never shown back, never stored."""

from __future__ import annotations

import hashlib
import secrets

import streamlit as st

from services import config, scope

STATE_KEY = "provider_keys"
# this browser session's id for services (per-session health, errors and live contexts)
SCOPE_KEY = "session_scope_id"
# settings a person may type on the Models page, with whether the value is a secret
TYPABLE = (("GITHUB_TOKEN", True), ("NVIDIA_API_KEY", True), ("AZURE_AI_ENDPOINT", False),
           ("AZURE_AI_API_KEY", True), ("OPENAI_BASE_URL", False), ("OPENAI_API_KEY", True),
           ("OLLAMA_HOST", False), ("OLLAMA_API_KEY", True))


def typed() -> dict[str, str]:
    """This session's typed settings."""
    return dict(st.session_state.get(STATE_KEY, {}))


def install() -> None:
    """Make this session's typed keys and its id visible to services for this run (this thread only)."""
    if SCOPE_KEY not in st.session_state:
        st.session_state[SCOPE_KEY] = secrets.token_hex(16)
    scope.use(st.session_state[SCOPE_KEY])
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
