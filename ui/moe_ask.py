"""MoE page, Ask tab: a preset question asked k times, the vote, every sample, and the first sample's routing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services.errors import PlaygroundError
from services.reasoning import routing
from services.reasoning.methods import PRESETS, Consistency, self_consistency
from services.types import GenerationParams
from ui.provisioning import ensure_embedded_ready
from ui.routing_view import model_facts, routing_panel
from ui.safe_markdown import plain, sanitize, show


def show_consistency(res: Consistency) -> None:
    """The vote, the agreement and every sample."""
    vote = res.vote
    c1, c2 = st.columns(2)
    c1.metric("Final answer", plain(res.answer) or "none found")
    k = len(res.samples)
    agreement = vote.agreement if vote else 0
    c2.metric("Agreement", f"{agreement:.0%}", help=f"share of the {k:d} samples that gave it")
    st.caption(sanitize(f"{res.target} · {k} sample(s)"))
    if vote and vote.tied:
        st.warning(sanitize(f"Tie between {', '.join(vote.tied)}; the first one given wins."))
    if k > 1 and vote and vote.counts:
        st.dataframe(pd.DataFrame([{"answer": a, "votes": n} for a, n in vote.counts.items()]), hide_index=True)
    for i, s in enumerate(res.samples):
        # labels render markdown: model text goes through sanitize() like every other model output
        with st.expander(plain(f"Sample {i + 1}: {s.answer or 'no answer'} ({s.method})"), expanded=k == 1):
            show(s.text or "(empty)")
            if s.error:
                st.error(sanitize(s.error))
            st.caption(plain(f"{s.completion_tokens} tokens · {s.seconds} s · finish {s.finish_reason}"))


def ask_tab(target: str, *, can_route: bool, ready: bool, params: GenerationParams | None, system: str) -> None:
    """The Ask tab: preset, question, samples and temperature, Run (with Stop), then the kept result."""
    state = st.session_state
    preset = st.selectbox("Preset", list(PRESETS), format_func=lambda k: PRESETS[k].label, key="moe_preset")
    question = st.text_area("Question", value=PRESETS[preset].example, key=f"moe_question_{preset}", height=150)
    c1, c2, c3 = st.columns(3)
    step = c1.toggle("Step by step", value=True, key="moe_steps", help="ask for the working before the answer")
    k = int(c2.number_input("Samples (self-consistency)", 1, 10, 1, key="moe_samples",
                            help="ask k times at the temperature below and take a majority vote"))
    temp = c3.slider("Sample temperature", 0.05, 1.5, 0.7, 0.05, key="moe_sample_temp", disabled=k == 1,
                     help="used when samples > 1; one sample uses the Parameters panel")
    want_routing = st.toggle("Record expert routing", key="moe_want_routing", disabled=not can_route,
                             help="local MoE models in transformers only (first sample)")
    if st.button("Run", key="moe_run", type="primary", disabled=not ready):
        if not question.strip():
            st.warning("Type a question first: the question is empty.")
        elif ensure_embedded_ready(target):
            # a click reruns the script, which closes the running stream (as on the chat page)
            st.button("⏹ Stop", key="moe_ask_halt")
            bar = st.progress(0.0, text=f"Sample 1 of {k:d}…")

            def tick(i, sample):
                bar.progress((i + 1) / k, text=sanitize(f"Sample {i + 1} of {k}: {sample.answer!r}"))

            try:
                res = self_consistency(target, question, preset=preset, k=k, temperature=temp if k > 1 else None,
                                       params=params, step_by_step=step, system=system,
                                       routing=want_routing and can_route, on_sample=tick)
                state.moe_result = res
                state.moe_result_routing_info = routing.model_info(target) if res.routing else {}
            except PlaygroundError as exc:
                # the question stays in its box; nothing is lost
                st.error(sanitize(exc.user_message()))
            bar.empty()
    res = state.get("moe_result")
    if res:
        show_consistency(res)
        if res.routing:
            st.subheader("Which experts each token went to")
            model_facts(state.get("moe_result_routing_info") or {})
            routing_panel(res.routing, "moe_ask_routing", info=state.get("moe_result_routing_info"))
