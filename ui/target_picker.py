"""Sidebar target picker: every target listed and grouped by family, unavailable ones with their reason."""

from __future__ import annotations

import streamlit as st

from services.chat import DEFAULT_TARGET
from services.targets import list_targets
from services.types import Target, TargetInfo
from ui import session_keys
from ui.safe_markdown import plain, sanitize
from ui.widget_memory import remember


@st.cache_data(ttl=30, show_spinner=False)
def _targets(session_fingerprint: str = "") -> list[TargetInfo]:
    # cached briefly: listing asks servers for their models; keyed by a digest of this session's
    # typed keys so one session's keys never make targets look available to another
    infos = list(list_targets())
    # group by family, families in order of first appearance (the embedded model comes first)
    order: dict[str, int] = {}
    for i in infos:
        order.setdefault(i.family or i.target, len(order))
    return sorted(infos, key=lambda i: order[i.family or i.target])


def forget_targets() -> None:
    """Drop the short cache, so models just added or deleted show at once."""
    _targets.clear()


def all_targets() -> list[TargetInfo]:
    """Every target, grouped by family (cached 30 s)."""
    session_keys.install()
    return _targets(session_keys.fingerprint())


def label(info: TargetInfo) -> str:
    """How a target reads in a list."""
    text = info.target
    if info.family and info.family not in text:
        text = f"{info.family} · {text}"
    if not info.available:
        text += f"  (unavailable: {info.reason})"
    return text


def pick_target(key: str, *, container=None, default: str = DEFAULT_TARGET,
                help: str | None = None) -> TargetInfo:
    """A selectbox over every target; returns the chosen target."""
    where = container or st.sidebar
    infos = all_targets()
    by_name = {i.target: i for i in infos}
    names = list(by_name)
    index = names.index(default) if default in names else 0
    # back from another page: the choice made here before, if that target still exists
    remember(key, lambda t: t in names)
    # once the session holds a choice (or the family switch set one), do not pass a default too
    start = {} if st.session_state.get(key) in names else {"index": index}
    chosen = where.selectbox("Target", names, key=key, **start,
                             format_func=lambda t: label(by_name[t]),
                             help=help or "backend:model. Unavailable targets say why.")
    info = by_name[chosen]
    if not info.available:
        where.warning(sanitize(f"{chosen} is unavailable: {info.reason}"))
    _family_switch(where, key, info, infos)
    return info


def _family_switch(where, key: str, info: TargetInfo, infos: list[TargetInfo]) -> None:
    """One click to the same provider's other families (Phi-3-mini <-> Phi-3.5-mini)."""
    backend = Target.parse(info.target).backend
    siblings: dict[str, str] = {}
    for i in infos:
        if Target.parse(i.target).backend == backend and i.family and i.family != info.family:
            siblings.setdefault(i.family, i.target)
    if not siblings:
        return
    switch_key = f"{key}_family_switch"

    def switch() -> None:
        picked = st.session_state.get(switch_key)
        if picked:
            st.session_state[key] = picked
        st.session_state[switch_key] = None

    where.pills(f"Other families on {plain(backend)}", list(siblings.values()), key=switch_key,
                format_func=lambda t: plain(next(f for f, x in siblings.items() if x == t)), on_change=switch)
