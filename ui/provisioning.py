"""First-run build of the embedded model, shown as a status box with a progress bar."""

from __future__ import annotations

import streamlit as st

from services.models import embedded

from services.models import embedded_background
from services.errors import PlaygroundError
from ui.safe_markdown import plain, sanitize


def ensure_embedded_ready(target: str) -> bool:
    """Build the embedded caches if this target must wait for them; False (with a message) on failure."""
    if ":" not in target:  # a bare model name: wait for every cache, as any backend may need them
        target = f"any:{target}"
    if not embedded_background.must_build_first(target):
        waiting = embedded_background.note(target)
        if waiting:
            st.info(sanitize(waiting))
        return True
    with st.status("Preparing the embedded model (first run only, about a minute)…", expanded=True) as status:
        bar = st.progress(0.0)
        stages = {"hf": (0.0, 0.5), "onnx": (0.5, 1.0)}

        def report(stage: str, fraction: float, message: str) -> None:
            lo, hi = stages.get(stage, (0.0, 1.0))
            bar.progress(min(1.0, lo + (hi - lo) * fraction), text=plain(message))

        try:
            embedded.provision(report)
        except PlaygroundError as exc:
            status.update(label="The embedded model could not be prepared", state="error")
            st.error(sanitize(exc.user_message()))
            return False
        status.update(label="Embedded model ready", state="complete", expanded=False)
    return True
