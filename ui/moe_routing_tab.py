"""MoE page, Expert routing tab: route one or two prompts on a local MoE and show where each token went."""

from __future__ import annotations

import streamlit as st

from services.errors import PlaygroundError
from services.reasoning import routing
from services.types import GenerationParams, Target
from ui.routing_view import model_facts, routing_panel, side_by_side
from ui.safe_markdown import plain, sanitize


def routing_tab(target: str, *, can_route: bool, ready: bool, params: GenerationParams | None, system: str) -> None:
    """Prompts A and B, Route, then each prompt's routing (side by side when both ran); a sentence when it cannot."""
    state = st.session_state
    if not can_route:
        # a local MoE of a family we cannot route gets its own sentence, never an empty chart
        why = routing.family_reason(Target.parse(target))
        st.info(plain(why) if why else "Expert routing needs a local mixture-of-experts model in transformers: "
                "download Phi-tiny-MoE (about 8 GB, runs in 16 GB of memory) on the Models page, or add your own "
                "folder there, then pick it in the sidebar.")
        return
    a = st.text_area("Prompt A", "What is 17 times 23?", key="moe_route_a")
    b = st.text_area("Prompt B (optional, to compare routing)", "Write a haiku about the sea.", key="moe_route_b")
    if st.button("Route", key="moe_route_run", disabled=not ready):
        try:
            with st.spinner("Generating with routing hooks on…"):
                state.moe_route_a_events = routing.route_prompt(target, a, params, system=system).routing
                state.moe_route_b_events = (routing.route_prompt(target, b, params, system=system).routing
                                            if b.strip() else [])
                state.moe_route_info = routing.model_info(target)
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))
    route_info = state.get("moe_route_info") or {}
    if state.get("moe_route_a_events"):
        model_facts(route_info)
    if state.get("moe_route_a_events") and state.get("moe_route_b_events"):
        side_by_side(state.moe_route_a_events, state.moe_route_b_events, "moe_route", info=route_info)
    elif state.get("moe_route_a_events"):
        st.subheader("Prompt A")
        routing_panel(state.moe_route_a_events, "moe_route_a_dl", title="Prompt A", info=route_info)
