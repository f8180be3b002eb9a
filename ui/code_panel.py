"""The Code panel: the last request as a runnable script for its target's runtime, to copy or download."""

from __future__ import annotations

import streamlit as st

from dataclasses import replace

from services.codegen import script_for, script_targets
from services.errors import PlaygroundError
from services.types import Target
from ui.file_download import file_download
from ui.safe_markdown import plain, sanitize
from ui.target_picker import all_targets

NO_REQUEST = "No request yet: send one, and the script that reproduces it appears here."


def code_panel(request, *, key: str, title: str = "🧾 Code", empty: str = NO_REQUEST) -> None:
    """An expander with the script for `request` (a ChatRequest, or None before the first one)."""
    with st.expander(plain(title)):
        if request is None:
            st.caption(plain(empty))
            return
        # the same request for every runtime listed with this model (the embedded model: three local ones)
        choices = [str(t) for t in script_targets(request, all_targets())]
        if len(choices) > 1:
            chosen = st.radio("Runtime", choices, format_func=lambda t: plain(t), horizontal=True,
                              key=f"{key}_runtime_{choices[0]}",
                              help="the same messages and parameters, written for another runtime of this model")
            request = replace(request, target=Target.parse(chosen))
        try:
            script = script_for(request)
        except PlaygroundError as exc:
            st.info(sanitize(exc.user_message()))
            return
        except Exception as exc:  # noqa: BLE001 - a script that cannot be written must not break the page
            st.info(f"No script for this request ({plain(type(exc).__name__)}).")
            return
        files = f" · reads {len(script.attachments)} image file(s) from its folder" if script.attachments else ""
        st.caption(plain(f"Runtime: {script.runtime} · pip install {' '.join(script.requirements)}{files}"))
        # st.code has its own copy-to-clipboard button
        st.code(script.text, language="python")
        file_download(f"⬇ Download {script.download_name}", script.download_bytes(),
                      file_name=script.download_name, mime=script.mime, key=f"{key}_download")


def compare_code(requests, blind: bool = False, *, key: str = "cmp_code") -> None:
    """One Code panel per column of the last comparison (None before the first run)."""
    if not requests:
        code_panel(None, key=key, empty="No comparison yet: run one, and each column's script appears here.")
        return
    if blind:
        st.caption("🧾 Code is hidden in blind mode: each script names its target.")
        return
    for i, (col, request) in enumerate(zip(st.columns(len(requests)), requests, strict=True)):
        with col:
            code_panel(request, key=f"{key}_{i}", title=f"🧾 Code · column {i + 1}")
