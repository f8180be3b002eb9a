"""Sidebar target picker: every target listed, unavailable ones with their reason."""

from __future__ import annotations

import streamlit as st

from services.backends.base import TargetInfo
from services.chat import DEFAULT_TARGET
from services.targets import list_targets


@st.cache_data(ttl=30, show_spinner=False)
def _targets() -> list[dict]:
    # cached briefly: listing asks servers for their models
    return [i.to_dict() for i in list_targets()]


def all_targets() -> list[TargetInfo]:
    """Targets as TargetInfo-like dicts (cached 30 s)."""
    return _targets()


def label(info: dict) -> str:
    """How a target reads in a list."""
    text = info["target"]
    if not info["available"]:
        text += f"  (unavailable: {info['reason']})"
    return text


def pick_target(key: str, *, container=None, default: str = DEFAULT_TARGET,
                help: str | None = None) -> dict:
    """A selectbox over every target; returns the chosen target's dict."""
    where = container or st.sidebar
    infos = all_targets()
    names = [i["target"] for i in infos]
    index = names.index(default) if default in names else 0
    chosen = where.selectbox("Target", names, index=index, key=key,
                             format_func=lambda t: label(next(i for i in infos if i["target"] == t)),
                             help=help or "backend:model. Unavailable targets say why.")
    info = next(i for i in infos if i["target"] == chosen)
    if not info["available"]:
        where.warning(f"{chosen} is unavailable: {info['reason']}")
    return info
