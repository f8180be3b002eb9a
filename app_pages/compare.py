"""Compare page: one prompt on 2 to 4 targets, streamed side by side, measured, diffed and voted."""

from __future__ import annotations

import random
import threading
import time

import streamlit as st

from services.compare import elo

from services.compare import runfile
from services.chat import DEFAULT_SYSTEM_PROMPT, MAX_PROMPT_CHARS
from services.compare.run import MAX_TARGETS, CompareSpec, start_compare
from services.compare.presets import presets
from services.errors import PlaygroundError
from services.types import GenerationParams
from ui.compare_columns import column_name, diff_panel, result_columns, speed_chart, stream_columns
from ui.compare_judge import judge_panel
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import plain, sanitize
from ui.target_picker import all_targets, label

state = st.session_state
VOTES = {"a": "👈 A is better", "b": "👉 B is better", "tie": "🤝 Tie", "both_bad": "👎 Both are bad"}

st.title("⚖️ Compare")
st.caption("The same prompt on 2 to 4 targets, side by side: speed, answers, differences, and blind votes.")

infos = all_targets()
by_name = {i["target"]: i for i in infos}
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


def store():
    """The shared SQLite store, or None (with a warning) when it cannot be opened."""
    try:
        from services.conversations.store import open_store

        return open_store()
    except PlaygroundError as exc:
        st.warning(sanitize(f"Runs and votes cannot be saved: {exc.user_message()}"))
        return None


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
        if not by_name[t]["available"]:
            # reasons are sentences that end in a full stop already
            st.warning(sanitize(f"{t} is unavailable: {by_name[t]['reason'].rstrip('. ')}. Its column will show the error."))
    sync = st.toggle("Sync settings", value=True, key="cmp_sync", help="One set of parameters for every column")
    concurrent = st.toggle("Run local targets at the same time", value=False, key="cmp_concurrent",
                           help="Off: local targets run one after another so each gets the whole CPU and its "
                                "speed is fair. Cloud targets always run at the same time.")
    blind = st.toggle("Blind mode", value=False, key="cmp_blind",
                      help="Two targets, names hidden and shuffled until you vote")
    ignored = [set(by_name[t]["capabilities"]["ignored_params"]) for t in targets] or [set()]
    params_list: list[GenerationParams | None]
    if sync:
        shared, system = params_panel("cmp", set.intersection(*ignored))
        params_list = [shared] * len(targets)
    else:
        st.session_state.setdefault("cmp_system_only", DEFAULT_SYSTEM_PROMPT)
        system = st.text_area("System prompt", key="cmp_system_only", placeholder="none: the model's own default",
                              max_chars=MAX_PROMPT_CHARS)
        params_list = []
        for i, t in enumerate(targets):
            st.caption(f"Column {i + 1:d}: {plain(t)}")
            params_list.append(params_panel(f"cmp_col{i}", ignored[i], show_system=False)[0])

prompt = st.text_area("Prompt", key="cmp_prompt", placeholder="Ask every target the same question…",
                      max_chars=MAX_PROMPT_CHARS)
images = []
video_file = None
if any(by_name[t]["capabilities"]["images"] for t in targets):
    from services.media.images import prepare_image

    c_img, c_vid = st.columns(2)
    for f in c_img.file_uploader("Images (sent to the vision targets; text-only targets get the prompt alone)",
                                 accept_multiple_files=True, key="cmp_images") or []:
        try:
            images.append(prepare_image(f.name, f.getvalue()).part)
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
        run = live["run"]
        run.close()
        payload = runfile.run_from(run)
        payload["blind"] = live["blind"]
        state.cmp_last = {"run": payload, "blind": live["blind"], "voted": None}
        try:
            from services.conversations.store import open_store

            payload["id"] = open_store().save_run("compare", payload)
        except PlaygroundError as exc:
            state.cmp_flash = f"This run was not saved: {exc.user_message()}"
        live["done"] = True
        if state.get("cmp_live") is live:
            del state["cmp_live"]


def execute(spec: CompareSpec, is_blind: bool) -> None:
    """Stream every column, then keep the run (state, store) and redraw from it."""
    for t in spec.targets:
        if not ensure_embedded_ready(t):
            st.stop()
    run = start_compare(spec)
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


def vote(outcome: str) -> None:
    """Store a blind vote and reveal the names."""
    last = state.cmp_last
    a, b = (r["target"] for r in last["run"]["results"][:2])
    db = store()
    if db is not None:
        try:
            db.add_vote(last["run"].get("id"), a, b, outcome)
        except PlaygroundError as exc:
            st.warning(sanitize(f"The vote was not saved: {exc.user_message()}"))
    last["voted"] = outcome
    last["run"]["votes"].append({"target_a": a, "target_b": b, "outcome": outcome,
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


last = state.get("cmp_last")
if last:
    run = last["run"]
    results = run["results"]
    hidden = bool(last["blind"]) and last["voted"] is None
    headers = [column_name(i, r["target"], hidden) for i, r in enumerate(results)]
    st.caption(f"Prompt: {plain(run['prompt'][:300])}")
    result_columns(results, headers, show_metrics=not hidden)
    if hidden:
        if all(not r.get("error") for r in results):
            st.markdown("**Which answer is better?** The names show after you vote.")
            for col, (outcome, text) in zip(st.columns(4), VOTES.items(), strict=True):
                col.button(text, key=f"cmp_vote_{outcome}", on_click=vote, args=(outcome,), use_container_width=True)
        else:
            last["voted"] = "none"
            st.rerun()
    else:
        if last["blind"] and last["voted"] in VOTES:
            st.success(sanitize(f"You voted {VOTES[last['voted']]}. Model A was {results[0]['target']}, "
                                f"Model B was {results[1]['target']}."))
        if run.get("wall_s"):
            st.caption(f"Wall time for the whole run: {run['wall_s']:.2f} s")
        st.subheader("Speed")
        speed_chart(results, headers)
    st.subheader("Word diff")
    # a new key once names show, so the pickers relabel from "Model A" to the target
    diff_panel(results, headers, "cmp_diff_hidden" if hidden else "cmp_diff")
    if not hidden:
        st.download_button("⬇ Export run (JSON)", runfile.dumps(run), key="cmp_export", mime="application/json",
                           file_name=f"compare-run-{time.strftime('%Y%m%d-%H%M%S')}.json")
        judge_panel(run, names)

with st.expander("Load a run file"):
    upload = st.file_uploader("A run file exported from this page or `compare --export`", type=["json"],
                              key="cmp_upload")
    if upload is not None:
        try:
            loaded = runfile.loads(upload.getvalue())
            loaded_spec = runfile.spec_from_run(loaded)
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))
        else:
            st.caption(f"Prompt: {plain(loaded['prompt'][:300])} · targets: {plain(', '.join(loaded_spec.targets))}"
                       f" · {len(loaded_spec.images)} image(s)")
            c1, c2 = st.columns(2)
            if c1.button("Show its results", key="cmp_show_loaded", disabled=not loaded.get("results")):
                loaded.setdefault("votes", [])
                state.cmp_last = {"run": loaded, "blind": False, "voted": None}
                st.rerun()
            if c2.button("Re-run it", key="cmp_rerun", type="primary"):
                # run it in the main area, not inside this expander
                state.cmp_pending = loaded_spec
                st.rerun()

with st.expander("Leaderboard (blind votes)"):
    db = store()
    rows = elo.leaderboard(db.list_votes()) if db is not None else []
    if rows:
        st.dataframe(rows, hide_index=True, use_container_width=True, column_config={
            "target": "Target", "votes": "Votes", "wins": "Wins", "losses": "Losses", "ties": "Ties",
            "both_bad": "Both bad",
            "elo": st.column_config.NumberColumn("Elo", format="%.0f"),
            "win_rate": st.column_config.NumberColumn("Win rate", format="percent"),
        })
    else:
        st.caption("No votes yet: turn on blind mode, compare two targets and vote.")
