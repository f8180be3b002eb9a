"""Models page: every provider with its state, keys for this session, Ollama pulls, local models."""

from __future__ import annotations

import importlib.util

import streamlit as st

from services.errors import PlaygroundError
from services.provider_status import ORDER, pull, status
from ui import session_keys
from ui.provider_status import render
from ui.safe_markdown import plain, sanitize

session_keys.install()
state = st.session_state
# names of providers whose Test connection button was clicked this run
state.setdefault("models_checks", set())

st.title("🗂️ Models")
st.caption("Where each target runs, what it needs, and whether it answers. "
           "Keys come from .streamlit/secrets.toml, then the environment, or can be typed below "
           "for this browser session only.")


def _check(name: str) -> None:
    state.models_checks.add(name)


def _take_typed() -> None:
    """Move typed values into this session's keys and empty the boxes, so nothing is echoed back."""
    values = {}
    for name, _secret in session_keys.TYPABLE:
        values[name] = state.get(f"models_type_{name}", "")
        state[f"models_type_{name}"] = ""
    session_keys.set_typed(values)
    st.cache_data.clear()  # target lists depend on the keys


with st.expander("🔑 Keys and addresses for this session", expanded=False):
    st.caption("Typed values live only in this browser session: never saved, never shown again. "
               "They take precedence over secrets.toml and the environment. An address typed here "
               "is used only with a key typed here (or none): configured keys go only to configured "
               "addresses.")
    with st.form("models_keys_form"):
        for name, secret in session_keys.TYPABLE:
            # the setting's own name, unescaped: Streamlit also uses a label as the field's aria-label
            st.text_input(name, type="password" if secret else "default",
                          key=f"models_type_{name}", placeholder="(unchanged)")
        st.form_submit_button("Use for this session", on_click=_take_typed)
    typed = session_keys.typed()
    if typed:
        st.markdown(sanitize("Typed for this session: " + ", ".join(f"`{k}`" for k in sorted(typed))))
        if st.button("Forget typed keys", key="models_forget"):
            session_keys.forget()
            st.cache_data.clear()
            st.rerun()

st.subheader("Providers")
for name in ORDER:
    checking = name in state.models_checks
    try:
        with st.spinner(plain(f"Checking {name}…")) if checking else st.container():
            info = status(name, check=checking)
    except PlaygroundError as exc:
        st.error(sanitize(f"{name}: {exc.user_message()}"))
        continue
    render(info, on_check=_check)
state.models_checks = set()

with st.expander("⬇️ Pull an Ollama model", expanded=False):
    with st.form("models_pull_form"):
        tag = st.text_input("Model tag", value="phi3.5", key="models_pull_tag",
                            help="phi3, phi3:mini-128k, phi3:medium, phi3.5, llava-phi3, …")
        go = st.form_submit_button("Pull")
    if go and tag.strip():
        bar = st.progress(0.0, text=plain(f"Pulling {tag}…"))

        def progress(status_text: str, fraction: float | None) -> None:
            bar.progress(min(max(fraction or 0.0, 0.0), 1.0), text=plain(f"{tag}: {status_text}"))

        try:
            pull(tag.strip(), progress)
            st.success(sanitize(f"{tag} is ready: pick ollama:{tag} in any target picker."))
            st.cache_data.clear()
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))

# local model management (downloads, GGUF and ONNX folders) lives in its own module when present
if importlib.util.find_spec("ui.models_local") is not None:
    from ui import models_local

    models_local.render()
