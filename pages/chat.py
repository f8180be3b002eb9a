"""Chat page: a streamed conversation with one target."""

from __future__ import annotations

import streamlit as st

from services.chat import start_chat
from services.errors import IncompleteGeneration, PlaygroundError
from services.types import Message
from ui.metrics_card import metrics_caption
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import sanitize, show
from ui.target_picker import pick_target

state = st.session_state
state.setdefault("chat_messages", [])

st.title("💬 Chat")

with st.sidebar:
    info = pick_target("chat_target")
    target = info["target"]
    params, system = params_panel("chat", set(info["capabilities"]["ignored_params"]))
    if st.button("Clear chat", key="chat_clear", use_container_width=True):
        state.chat_messages = []
        st.rerun()


def render_message(msg: dict) -> None:
    """One stored turn, with its metrics and any notice."""
    with st.chat_message(msg["role"]):
        if msg.get("notice"):
            st.info(msg["notice"])
        show(msg["content"])
        if msg.get("finish_reason") in ("incomplete", "cancelled"):
            st.warning("Stopped before the end: this answer is incomplete.")
        if msg.get("error"):
            st.error(msg["error"])
        if msg["role"] == "assistant" and msg.get("metrics"):
            metrics_caption(msg["metrics"], msg.get("finish_reason"))
            st.caption(f"{msg.get('target', '')}")


for msg in state.chat_messages:
    render_message(msg)

ready = info["available"] and params is not None
prompt = st.chat_input("Ask anything…" if ready else "Pick an available target first",
                       disabled=not ready, key="chat_input")

if prompt is not None:
    if not prompt.strip():
        st.warning("Type a message first: the prompt is empty.")
        st.stop()
    state.chat_messages.append({"role": "user", "content": prompt})
    render_message(state.chat_messages[-1])
    model = target.split(":", 1)[1]
    if not ensure_embedded_ready(model):
        st.stop()
    history = ([Message("system", system)] if system.strip() else []) + [
        Message(m["role"], m["content"]) for m in state.chat_messages if m["role"] in ("user", "assistant")
    ]
    answer = {"role": "assistant", "content": "", "target": target, "metrics": {}, "finish_reason": None}
    with st.chat_message("assistant"):
        try:
            with st.spinner("Loading the model…"):
                stream = start_chat(target, history, params)
        except PlaygroundError as exc:
            # the question stays in the transcript; nothing was generated
            st.error(exc.user_message())
            state.chat_messages[-1]["error"] = exc.user_message()
            st.stop()
        if stream.notices:
            answer["notice"] = " ".join(stream.notices)
            st.info(answer["notice"])
        # a click on Stop reruns the script, which abandons and closes the stream
        st.button("⏹ Stop", key="chat_stop")
        box = st.empty()
        try:
            for piece in stream.text_chunks():
                answer["content"] += piece
                box.markdown(sanitize(answer["content"]) + " ▌")
            answer["finish_reason"] = stream.finish_reason
        except IncompleteGeneration as exc:
            answer["finish_reason"] = "incomplete"
            answer["error"] = exc.user_message()
        except PlaygroundError as exc:
            answer["finish_reason"] = "incomplete"
            answer["error"] = exc.user_message()
        finally:
            # runs on a Stop-triggered rerun too: the partial answer is kept, marked incomplete
            stream.close()
            answer["finish_reason"] = answer["finish_reason"] or "cancelled"
            answer["metrics"] = stream.metrics.to_dict()
            state.chat_messages.append(answer)
    st.rerun()
