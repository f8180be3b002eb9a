"""Compare page: one prompt on 2 to 4 targets, streamed side by side, measured, diffed and voted."""

from __future__ import annotations

import random
import threading

import streamlit as st

from services.chat import DEFAULT_SYSTEM_PROMPT, MAX_PROMPT_CHARS
from services.codegen.requests import compare_requests
from services.compare import saved
from services.compare.presets import presets
from services.compare.run import MAX_TARGETS, CompareSpec, start_compare
from services.errors import PlaygroundError
from services.types import GenerationParams
from ui.code_panel import compare_code
from ui.compare_columns import column_name, stream_columns
from ui.compare_results import last_run, leaderboard, run_file_loader
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import plain, sanitize
from ui.target_picker import all_targets, label
from ui.upload_cache import parse_once

state = st.session_state

st.title("⚖️ Compare")
st.caption("The same prompt on 2 to 4 targets, side by side: speed, answers, differences, and blind votes.")

infos = all_targets()
by_name = {i.target: i for i in infos}
names = list(by_name)
preset_list = presets(infos)
state.setdefault("cmp_targets", [t for t in preset_list[0].targets if t in by_name])
# a target that left the list (a server went away) must not break the picker
state.cmp_targets = [t for t in state.cmp_targets if t in by_name]


def apply_preset() -> None:
    """Put a preset's targets into the picker (a callback runs before the widgets are drawn)."""
    chosen = next((p for p in preset_list if p.name == state.cmp_preset), None)
    if chosen is not None:
        state.cmp_targets = [t for t in chosen.targets if t in by_name]


with st.sidebar:
    st.selectbox("Preset", [p.name for p in preset_list], index=None, key="cmp_preset", on_change=apply_preset,
                 placeholder="Pick a preset…", format_func=lambda n: n + ("" if next(
                     p for p in preset_list if p.name == n).available else "  (not available here)"))
    picked = next((p for p in preset_list if p.name == state.get("cmp_preset")), None)
    if picked is not None and not picked.available:
        st.info(sanitize(picked.note))
    targets = st.multiselect(f"Targets (2 to {MAX_TARGETS:d})", names, key="cmp_targets", max_selections=MAX_TARGETS,
                             format_func=lambda t: label(by_name[t]))
    for t in targets:
        if not by_name[t].available:
            # reasons are sentences that end in a full stop already
            st.warning(sanitize(f"{t} is unavailable: {by_name[t].reason.rstrip('. ')}. Its column will show the error."))
    sync = st.toggle("Sync settings", value=True, key="cmp_sync", help="One set of parameters for every column")
    concurrent = st.toggle("Run local targets at the same time", value=False, key="cmp_concurrent",
                           help="Off: local targets run one after another so each gets the whole CPU and its "
                                "speed is fair. Cloud targets always run at the same time.")
    blind = st.toggle("Blind mode", value=False, key="cmp_blind",
                      help="Two targets, names hidden and shuffled until you vote")
    ignored = [set(by_name[t].capabilities.ignored_params) for t in targets] or [set()]
    params_list: list[GenerationParams | None]
    if sync:
        shared, system = params_panel("cmp", set.intersection(*ignored), formats=True)
        params_list = [shared] * len(targets)
    else:
        st.session_state.setdefault("cmp_system_only", DEFAULT_SYSTEM_PROMPT)
        system = st.text_area("System prompt", key="cmp_system_only", placeholder="none: the model's own default",
                              max_chars=MAX_PROMPT_CHARS)
        params_list = []
        for i, t in enumerate(targets):
            st.caption(f"Column {i + 1:d}: {plain(t)}")
            params_list.append(params_panel(f"cmp_col{i}", ignored[i], show_system=False, formats=True)[0])

prompt = st.text_area("Prompt", key="cmp_prompt", placeholder="Ask every target the same question…",
                      max_chars=MAX_PROMPT_CHARS)
images = []
video_file = None
vision_caps = [by_name[t].capabilities for t in targets if by_name[t].capabilities.images]
if vision_caps:
    from services.media.images import prepare_image

    # as Chat does: no more images per question than every vision target here takes, counted before decoding
    most = min(c.max_images for c in vision_caps)
    c_img, c_vid = st.columns(2)
    files = c_img.file_uploader("Images (sent to the vision targets; text-only targets get the prompt alone)",
                                accept_multiple_files=True, key="cmp_images",
                                help=plain(f"at most {most} per question for the vision targets picked")) or []
    if len(files) > most:
        st.error(plain(f"The vision targets picked take at most {most} image(s) per question and {len(files)} "
                       "are attached: remove some."))
        files = []
    for f in files:
        try:
            # decoded once per file (by its digest), not on every rerun while it stays in the uploader
            images.append(parse_once("compare image", f.getvalue(), lambda raw, n=f.name: prepare_image(n, raw).part))
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))
    video_file = c_vid.file_uploader("A video: the same frames go to every vision target", key="cmp_video")
    n_frames = c_vid.slider("Frames, sampled uniformly", 1, 16, 6, key="cmp_frames", disabled=video_file is None)


def finish_run(live: dict) -> None:
    """Close a run and keep it (session, store) once, whichever script run gets here first.

    A Stop click starts the next script run at once (fast rerun) while the stopped one is still
    closing its workers; both call this, and the lock makes the later one wait for the result.
    No Streamlit output here: the stopped run may no longer draw.
    """
    with live["lock"]:
        if live.get("done"):
            return
        kept = state.cmp_last = saved.keep(live["run"], blind=live["blind"])
        if kept.problem:
            state.cmp_flash = kept.problem
        live["done"] = True
        if state.get("cmp_live") is live:
            del state["cmp_live"]


def execute(spec: CompareSpec, is_blind: bool) -> None:
    """Stream every column, then keep the run (state, store) and redraw from it."""
    for t in spec.targets:
        if not ensure_embedded_ready(t):
            st.stop()
    run = start_compare(spec)
    state.cmp_code = (compare_requests(run), is_blind)  # for the Code panels
    # in the session before streaming, so the run after a Stop click can find and show it
    live = state.cmp_live = {"run": run, "blind": is_blind, "lock": threading.Lock()}
    headers = [column_name(i, t, is_blind) for i, t in enumerate(spec.targets)]
    # a click on Stop reruns the script, which abandons the loop below and closes the run
    st.button("⏹ Stop", key="cmp_halt")
    try:
        stream_columns(run, headers)
    finally:
        # also on a Stop click: what arrived is kept (marked stopped) before anything else can fail
        finish_run(live)
    st.rerun()


ready = 2 <= len(targets) <= MAX_TARGETS and all(p is not None for p in params_list)
if blind and len(targets) != 2:
    st.info("Blind mode compares exactly two targets; pick two.")
    ready = False
if st.button("▶ Compare", type="primary", disabled=not ready, key="cmp_run"):
    try:
        if video_file is not None:
            from services.media import video

            with st.spinner("Sampling frames…"):
                images += video.sample(video_file.getvalue(), frames=n_frames, max_frames=16,
                                       name=video_file.name).parts()
        order = list(range(len(targets)))
        if blind:
            # shuffle so "Model A" is not always the first target picked
            random.shuffle(order)
        spec = CompareSpec.build(prompt, [targets[i] for i in order], [params_list[i] for i in order],
                                 system=system, images=images, concurrent_local=concurrent)
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        st.stop()
    execute(spec, blind)

if state.get("cmp_live") is not None:
    # the run a Stop click interrupted: wait for its columns to close, then show what arrived
    with st.spinner("Stopping the run…"):
        finish_run(state.cmp_live)
if state.get("cmp_flash"):
    st.warning(sanitize(state.pop("cmp_flash")))

pending = state.pop("cmp_pending", None)
if pending is not None:
    execute(pending, False)


last = state.get("cmp_last")
if last is not None:
    last_run(last, names)
# each column's last request as a script for its runtime (hidden while blind)
compare_code(*state.get("cmp_code", (None, False)))
run_file_loader()
leaderboard()
