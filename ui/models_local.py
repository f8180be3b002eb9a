"""Models page, local section: Phi variants to download, what is installed, and your own models."""

from __future__ import annotations

import streamlit as st

from services.models import manager as model_manager, measured
from services.errors import PlaygroundError
from services.models.local import human
from ui import target_picker
from ui.safe_markdown import plain, sanitize

state = st.session_state


def _targets_changed() -> None:
    """New or deleted models are targets at once: drop the picker's short cache."""
    target_picker.forget_targets()


def _flash(kind: str, text: str) -> None:
    state["models_local_flash"] = (kind, text)


def _show_flash() -> None:
    kind, text = state.pop("models_local_flash", (None, None))
    if kind:
        getattr(st, kind)(sanitize(text))


def _downloads() -> None:
    """Running and finished downloads, refreshed every second while one is running."""
    seen = state.setdefault("models_local_seen_done", set())
    for job in model_manager.jobs():
        ev, v = job.latest, job.variant
        title = v.label or v.key
        if not job.finished:
            st.progress(ev.fraction, text=plain(f"{title}: {ev.describe()}"))
            if st.button("Cancel", key=f"models_cancel_{v.key}"):
                job.cancel()
            continue
        if id(job) not in seen:
            # the installed list and the target picker are outside this fragment: refresh them once
            seen.add(id(job))
            _targets_changed()
            st.rerun(scope="app")
        box = {"done": st.success, "failed": st.error, "cancelled": st.info}[ev.stage]
        box(sanitize(f"{title}: {ev.message}"))
        if st.button("Dismiss", key=f"models_dismiss_{v.key}"):
            model_manager.forget(job)
            st.rerun(scope="fragment")


# the memory verdicts of services/models/fit.py as the page shows them
VERDICTS = {"fits": "✅ fits", "alone": "🟡 fits alone", "not now": "🟠 not enough free memory now",
            "too big": "⛔ too big for this machine", "?": "❔ size unknown"}


def fit_text(fit: dict) -> str:
    """'✅ fits · about 12 tokens/s': the verdict and the expected decode speed here."""
    return f"{VERDICTS.get(fit['verdict'], fit['verdict'])} · {fit['speed']}"


def fit_help(fit: dict) -> str:
    """The working behind a fit: memory arithmetic and the speed's inputs."""
    return f"{fit['text']}. Speed: {fit['speed_note']}."


def _here(info: dict) -> None:
    """How the fit and speed are worked out here, and a way to measure the bandwidth when it is missing."""
    here = info["here"]
    bw = f"{here['bandwidth_gbs']:g} GB/s" if here["bandwidth_gbs"] else "unknown"
    st.caption(plain(f"Fit: weights + KV cache at {here['context']:,} tokens against {human(here['available_bytes'])} "
                     f"free memory and the {human(here['budget_bytes'])} model budget. Expected decode speed: "
                     f"each runtime's measured efficiency x read bandwidth {bw} ({here['bandwidth_source']}) "
                     "/ weight bytes read per token."))
    if not here["bandwidth_gbs"] and st.button("Measure bandwidth here", key="models_measure_bandwidth",
                                               help="Reads a large buffer for about a second."):
        measured.remeasure_bandwidth()
        st.rerun()


def _installed(info: dict) -> None:
    st.markdown("**On this machine**")
    if not info["installed"] and not info["ollama"]:
        st.caption("Nothing yet: download a model below, or add your own.")
    for m in info["installed"]:
        c1, c2, c3 = st.columns([5, 2, 1])
        c1.code(m["target"], language=None)
        c2.write("your files (linked)" if m["linked"] else plain(human(m["size_bytes"])))
        c2.caption(plain(fit_text(m["fit"])), help=plain(fit_help(m["fit"])))
        if c3.button("Delete", key=f"models_rm_{m['target']}"):
            try:
                model, freed = model_manager.remove(m["target"])
            except PlaygroundError as exc:
                _flash("error", exc.user_message())
            else:
                _flash("success", f"Deleted {model.target}; " + (
                    "your own files were left alone." if model.linked else f"freed {human(freed)}."))
                _targets_changed()
            st.rerun()
    for o in info["ollama"]:
        c1, c2 = st.columns([5, 3])
        c1.code(o["target"], language=None)
        c2.write("pulled with Ollama")


def _catalog(info: dict) -> None:
    st.markdown("**Download a Phi model**")
    memory = info["memory_bytes"]
    running = {j.variant.key for j in model_manager.jobs() if not j.finished}
    for v in info["variants"]:
        c1, c2, c3 = st.columns([5, 3, 2])
        c1.write(plain((v["label"] or v["key"]) + ("  ⭐ fastest that fits here" if v["recommended"] else "")))
        fit = v["fit"]
        need = fit["need_bytes"] or v["memory_gb"] * 1e9
        note = f"~{v['download_gb']:.1f} GB download, needs {human(need)} memory"
        if memory and need > memory:
            note += f" (this machine has {human(memory)})"
        c2.caption(plain(note))
        c2.caption(plain(fit_text(fit)), help=plain(fit_help(fit)))
        if v["installed"]:
            c3.write(sanitize(f"✓ `{v['target']}`"))
        elif v["key"] in running:
            c3.write("downloading…")
        else:
            text = f"Resume ({human(v['partial_bytes'])} kept)" if v["partial_bytes"] else "Download"
            if c3.button(plain(text), key=f"models_pull_{v['key']}"):
                model_manager.start_pull(v["model"], v["variant"])
                st.rerun()
            if v["partial_bytes"] and c3.button("Discard", key=f"models_discard_{v['key']}"):
                try:
                    freed = model_manager.discard_partial(v["model"], v["variant"])
                except PlaygroundError as exc:
                    _flash("error", exc.user_message())
                else:
                    _flash("success", f"Discarded the interrupted download; freed {human(freed)}.")
                st.rerun()


def _bring_your_own() -> None:
    with st.form("models_add_form", clear_on_submit=False):
        st.markdown("**Add your own model**")
        path = st.text_input("Path on this machine",
                             help="An ONNX Runtime GenAI folder (genai_config.json), a Hugging Face folder "
                                  "(config.json + weights) or a .gguf file. It is checked, linked, never run.")
        name = st.text_input("Name (optional)", help="The model part of its target; default: the folder name.")
        if st.form_submit_button("Add"):
            try:
                model = model_manager.add(path, name.strip() or None)
            except PlaygroundError as exc:
                st.error(sanitize(exc.user_message()))
            else:
                _targets_changed()
                st.success(sanitize(f"Added: pick {model.target} in the target list."))


def render() -> None:
    """The whole local section of the Models page."""
    st.subheader("Local models")
    try:
        info = model_manager.overview()
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        return
    st.caption(plain(f"{human(info['free_bytes'])} available for models ({info['free_limit']}); "
               f"{human(info['memory_bytes'])} of memory."))
    _show_flash()
    running = any(not job.finished for job in model_manager.jobs())
    st.fragment(_downloads, run_every=1.0 if running else None)()
    _here(info)
    _installed(info)
    _catalog(info)
    _bring_your_own()
