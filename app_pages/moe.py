"""MoE reasoning page: presets, self-consistency, the bundled problem set, and expert routing."""

from __future__ import annotations

import streamlit as st

from services.reasoning import routing
from ui.moe_ask import ask_tab
from ui.moe_routing_tab import routing_tab
from ui.moe_suite import suite_tab
from ui.params_panel import params_panel
from ui.safe_markdown import sanitize
from ui.target_picker import all_targets, pick_target

st.title("🧠 MoE reasoning")
st.caption("Judge reasoning rather than eyeball one answer: ask k times and vote, score a problem set, "
           "and with a local mixture-of-experts model see which experts each token went to.")

with st.sidebar:
    info = pick_target("moe_target", help="MoE targets (Phi-3.5-MoE on GitHub, NIM, Azure or local "
                       "transformers) are listed under the picker; any other target works as a dense baseline.")
    target, can_route, moe = info.target, info.capabilities.moe_routing, routing.is_moe(info)
    if can_route:
        st.success("Mixture of experts: expert routing can be recorded.")
    elif moe:
        st.info("Mixture of experts in the cloud: reasoning tools work; routing needs a local model.")
    else:
        st.caption("Dense model: a baseline for the MoE targets.")
    sizes = routing.target_sizes(target) if moe else None
    if sizes:  # MoE: what one token touches vs what must be in memory
        st.caption(f"{sizes['total_params'] / 1e9:.2f}B parameters in all, {sizes['active_params'] / 1e9:.2f}B "
                   f"active per token; weights {sizes['weight_bytes']['bfloat16'] / 1e9:.1f} GB in bf16, "
                   f"{sizes['weight_bytes']['float32'] / 1e9:.1f} GB in fp32.")
    moe_names = [i.target for i in all_targets() if routing.is_moe(i)]
    st.caption(sanitize("MoE targets here: " + (", ".join(moe_names) if moe_names else "none configured")))
    params, system = params_panel("moe", set(info.capabilities.ignored_params))

ready = info.available and params is not None
ask, suite, route = st.tabs(["Ask", "Problem set", "Expert routing"])
with ask:
    ask_tab(target, can_route=can_route, ready=ready, params=params, system=system)
with suite:
    suite_tab(target, ready=ready, params=params)
with route:
    routing_tab(target, can_route=can_route, ready=ready, params=params, system=system)
