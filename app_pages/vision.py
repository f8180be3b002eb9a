"""Vision page: questions about several images and a video's sampled frames, stored as a conversation with follow-ups."""

from __future__ import annotations

import streamlit as st

from services.chat import MAX_PROMPT_CHARS
from services.conversations import vision as vconv
from services.conversations.rows import TurnSettings
from services.errors import PlaygroundError
from services.media import vision
from ui import vision_media as view
from ui.code_panel import code_panel
from ui.conversation_list import (conversation_sidebar, current_id, current_key, earlier_messages, get_store,
                                  set_current)
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import LiveMarkdown, sanitize, show
from ui.target_picker import all_targets, pick_target

KIND = vconv.KIND
state = st.session_state
st.title("🖼️ Vision")
st.caption("Ask about several images and a video. You see exactly which frames the model gets, and when.")
store = get_store()
names = [t.target for t in all_targets()]
# first, so a conversation reopened from the list or the URL can fill the picker and params below
current_id(store, names, kind=KIND)

with st.sidebar:
    info = pick_target("vision_target", default=vision.OFFLINE_TARGET,
                       help="Targets that take images: the offline OCR one, ONNX Phi-3.5-vision, cloud vision models.")
    target, caps = info.target, info.capabilities
    params, system = params_panel("vision", set(caps.ignored_params), local=caps.local)
conv_id = conversation_sidebar(store, names, kind=KIND)

view.target_note(info)
uploaded = view.uploads(target)
# new uploads start a new conversation about them; an open one keeps the media it was about
if uploaded.digest != state.get("vision_upload_digest"):
    state.vision_upload_digest = uploaded.digest
    if uploaded.parts and conv_id:
        set_current(store, None, kind=KIND)
        conv_id = None
        st.info("New media, so a new conversation starts with your next question.")
turns = vconv.turns(store, conv_id) if conv_id else []
if conv_id:
    parts = list(vconv.media(store, conv_id))
    view.media_strip(parts, turns[0].message.notice if turns else "")
else:
    parts = uploaded.parts
    view.media_strip(parts, uploaded.note, uploaded.warnings)
view.ocr_readings(target, parts)
view.token_estimate(info, parts, uploaded.num_crops, params.max_tokens if params else 0)

# a long conversation opens on its latest messages; earlier ones are drawn on demand
hidden = earlier_messages(conv_id, len(turns), KIND)
for n, msg in enumerate(turns[hidden:], start=hidden):
    view.turn(msg, first=n == 0)
# the last question of this conversation in this session, as a script for its target's runtime
last_request = state.get("vision_last_request")
code_panel(last_request[1] if last_request and last_request[0] == conv_id else None, key="vision_code")

ready = info.available and caps.images and params is not None and bool(parts)
hint = ("Ask about the images and frames…" if ready else
        "Add images or a video first" if not parts else "Pick an available vision target first")
question = st.chat_input(hint, disabled=not ready, key="vision_input", max_chars=MAX_PROMPT_CHARS)

if question is not None:
    try:
        settings = TurnSettings(target, params, system)
        # stored before anything is generated (a new conversation with its media), so nothing is lost
        conv_id, user_id = vconv.ask(store, conv_id, question, settings, uploaded.media)
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        if question.strip():
            st.caption("Your question was not sent; here it is to copy:")
            st.code(question, language=None, wrap_lines=True)
        st.stop()
    state[current_key(KIND)] = conv_id
    with st.chat_message("user"):
        show(question.strip())
    if not ensure_embedded_ready(target):
        st.stop()
    with st.chat_message("assistant"):
        try:
            with st.spinner("Reading the images and loading the model…"):
                reply = vconv.answer(store, conv_id, user_id, settings)
                state.vision_last_request = (conv_id, reply.request)  # for the Code panel
        except PlaygroundError:
            st.rerun()  # the reason is stored beside the question and shown after the rerun
        # a click on Stop reruns the script, which leaves this block and closes the answer: the partial
        # answer stays stored (an error too, shown after the rerun)
        with reply:
            if reply.notices:
                st.info(sanitize(" ".join(reply.notices)))
            st.button("⏹ Stop", key=f"vision_stop_{reply.message_id}")
            # re-rendered at most every 0.1 s: parsing the whole answer per token would be quadratic
            LiveMarkdown(st).follow(reply)
    st.rerun()
