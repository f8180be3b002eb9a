"""MoE reasoning page: presets, self-consistency, the bundled problem set, and expert routing."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from services.backends.base import TargetInfo
from services.reasoning import routing
from services.errors import BadRequest, PlaygroundError
from services.reasoning.problem_set import BUNDLED, load_problems, parse_problems, run_suite, save_suite
from services.reasoning.methods import PRESETS, self_consistency
from services.types import Target
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.routing_view import model_facts, routing_panel, side_by_side
from ui.safe_markdown import plain, sanitize, show
from ui.target_picker import all_targets, pick_target

state = st.session_state
st.title("🧠 MoE reasoning")
st.caption("Judge reasoning rather than eyeball one answer: ask k times and vote, score a problem set, "
           "and with a local mixture-of-experts model see which experts each token went to.")


def is_moe(info: TargetInfo) -> bool:
    """MoE targets: routers we can hook locally, or a Phi-3.5-MoE endpoint in the cloud."""
    return info.capabilities.moe_routing or "moe" in info.target.lower()


with st.sidebar:
    info = pick_target("moe_target", help="MoE targets (Phi-3.5-MoE on GitHub, NIM, Azure or local "
                       "transformers) are listed under the picker; any other target works as a dense baseline.")
    target = info.target
    can_route = info.capabilities.moe_routing
    if can_route:
        st.success("Mixture of experts: expert routing can be recorded.")
    elif is_moe(info):
        st.info("Mixture of experts in the cloud: reasoning tools work; routing needs a local model.")
    else:
        st.caption("Dense model: a baseline for the MoE targets.")
    sizes = routing.target_sizes(target) if is_moe(info) else None
    if sizes:  # MoE: what one token touches vs what must be in memory
        st.caption(f"{sizes['total_params'] / 1e9:.2f}B parameters in all, {sizes['active_params'] / 1e9:.2f}B "
                   f"active per token; weights {sizes['weight_bytes']['bfloat16'] / 1e9:.1f} GB in bf16, "
                   f"{sizes['weight_bytes']['float32'] / 1e9:.1f} GB in fp32.")
    moe_names = [i.target for i in all_targets() if is_moe(i)]
    st.caption(sanitize("MoE targets here: " + (", ".join(moe_names) if moe_names else "none configured")))
    params, system = params_panel("moe", set(info.capabilities.ignored_params))

ready = info.available and params is not None
ask_tab, suite_tab, route_tab = st.tabs(["Ask", "Problem set", "Expert routing"])


def show_consistency(res: dict) -> None:
    """The vote, the agreement and every sample."""
    vote = res["vote"] or {}
    c1, c2 = st.columns(2)
    c1.metric("Final answer", plain(res.get("answer")) or "none found")
    k = len(res["samples"])
    c2.metric("Agreement", f"{vote.get('agreement', 0):.0%}", help=f"share of the {k:d} samples that gave it")
    st.caption(sanitize(f"{res['target']} · {k} sample(s)"))
    if vote.get("tied"):
        st.warning(sanitize(f"Tie between {', '.join(vote['tied'])}; the first one given wins."))
    if k > 1 and vote.get("counts"):
        st.dataframe(pd.DataFrame([{"answer": a, "votes": n} for a, n in vote["counts"].items()]), hide_index=True)
    for i, s in enumerate(res["samples"]):
        # labels render markdown: model text goes through sanitize() like every other model output
        with st.expander(plain(f"Sample {i + 1}: {s['answer'] or 'no answer'} ({s['method']})"), expanded=k == 1):
            show(s["text"] or "(empty)")
            if s["error"]:
                st.error(sanitize(s["error"]))
            st.caption(plain(f"{s['completion_tokens']} tokens · {s['seconds']} s · finish {s['finish_reason']}"))


with ask_tab:
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
                state.moe_result = res.to_dict()
                state.moe_result_routing = res.routing
                state.moe_result_routing_info = routing.model_info(target) if res.routing else {}
            except PlaygroundError as exc:
                # the question stays in its box; nothing is lost
                st.error(sanitize(exc.user_message()))
            bar.empty()
    if state.get("moe_result"):
        show_consistency(state.moe_result)
        if state.get("moe_result_routing"):
            st.subheader("Which experts each token went to")
            model_facts(state.get("moe_result_routing_info") or {})
            routing_panel(state.moe_result_routing, "moe_ask_routing", info=state.get("moe_result_routing_info"))


with suite_tab:
    upload = st.file_uploader("Problem set (JSONL)", type=["jsonl", "json", "txt"], key="moe_suite_file",
                              help=f"leave empty for the bundled set ({plain(BUNDLED.name)})")
    try:
        if upload is not None:
            try:
                text = upload.getvalue().decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("That file is not UTF-8 text; a problem set is JSON lines.") from None
            problems = parse_problems(text)
        else:
            problems = load_problems()
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        problems = []
    if problems:
        cats = sorted({p.category for p in problems})
        c1, c2 = st.columns(2)
        chosen_cats = c1.multiselect("Categories", cats, default=cats, key="moe_suite_cats")
        diffs = c2.multiselect("Difficulty", ["easy", "medium", "hard"], default=["easy", "medium", "hard"],
                               key="moe_suite_diffs")
        subset = [p for p in problems if p.category in chosen_cats and p.difficulty in diffs]
        limit = int(st.number_input("How many problems", 1, max(len(subset), 1), max(len(subset), 1),
                                    key="moe_suite_limit"))
        names = [i.target for i in all_targets() if i.available]
        targets = st.multiselect("Targets", names, default=[target] if target in names else [],
                                 key="moe_suite_targets", help="run the same problems on each to compare")
        suite_step = st.toggle("Step by step", value=True, key="moe_suite_steps")
        st.caption(f"{min(limit, len(subset)):d} problems x {len(targets)} target(s); sampling as in Parameters "
                   "(temperature 0 gives repeatable scores).")
        if st.button("Run problem set", key="moe_suite_run", disabled=not (subset and targets and ready)):
            if all(ensure_embedded_ready(t) for t in targets):
                st.button("⏹ Stop", key="moe_suite_halt")
                bar = st.progress(0.0)

                def step_done(done, total, o):
                    bar.progress(done / total, text=sanitize(f"{done}/{total}: {o.target} {o.problem_id}"))

                try:
                    run = run_suite(subset[:limit], targets, params, step_by_step=suite_step, on_outcome=step_done)
                    state.moe_suite = run.to_dict()
                    state.moe_suite_csv = run.to_csv()
                    state.moe_suite_id = save_suite(run)
                except PlaygroundError as exc:
                    st.error(sanitize(exc.user_message()))
                bar.empty()
    if state.get("moe_suite"):
        data = state.moe_suite
        st.subheader("Accuracy")
        st.dataframe(pd.DataFrame([{"target": t, "accuracy": f"{s['accuracy']:.0%}", "correct": s["correct"],
                                    "problems": s["total"], "errors": s["errors"],
                                    "tokens out": s["completion_tokens"], "seconds": s["seconds"]}
                                   for t, s in data["targets"].items()]), hide_index=True)
        st.subheader("Per problem")
        # one row per problem, one column per target: easy to see where two models disagree
        table: dict[str, dict] = {}
        for o in data["outcomes"]:
            row = table.setdefault(o["problem_id"], {"problem": o["problem_id"], "category": o["category"],
                                                     "difficulty": o["difficulty"], "expected": o["expected"]})
            row[o["target"]] = ("✓ " if o["correct"] else "✗ ") + str(o["predicted"] or "–")
        st.dataframe(pd.DataFrame(list(table.values())), hide_index=True)
        c1, c2 = st.columns(2)
        c1.download_button("Results JSON", json.dumps(data, ensure_ascii=False, indent=1),
                           file_name="reasoning-suite.json", mime="application/json", key="moe_suite_json")
        c2.download_button("Results CSV", state.moe_suite_csv, file_name="reasoning-suite.csv", mime="text/csv",
                           key="moe_suite_csv_dl")
        if state.get("moe_suite_id"):
            st.caption(f"Saved in the database as run {plain(state.moe_suite_id)}.")


with route_tab:
    if not can_route:
        # a local MoE of a family we cannot route gets its own sentence, never an empty chart
        parsed = Target.parse(target)
        why = routing.unavailable_reason(parsed.model) if parsed.backend == "transformers" else None
        st.info(plain(why) if why else "Expert routing needs a local mixture-of-experts model in transformers: "
                "download Phi-tiny-MoE (about 8 GB, runs in 16 GB of memory) on the Models page, or add your own "
                "folder there, then pick it in the sidebar.")
    else:
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
