"""Chat page: a streamed conversation with one target, stored as it happens; branch, regenerate, edit, export."""

from __future__ import annotations

import streamlit as st

from services.conversations import branches as convs
from services.conversations.rows import StoredMessage, Turn, TurnSettings
from services.chat import MAX_PROMPT_CHARS
from services.errors import PlaygroundError
from services.evaluate.sources import from_chat
from ui.chat_attachments import chat_input_with_images
from ui.code_panel import code_panel
from ui.conversation_list import CURRENT, conversation_sidebar, current_id, earlier_messages, get_store
from ui.file_download import file_download
from ui.metrics_card import metrics_caption
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import LiveMarkdown, plain, sanitize, show
from ui.schema_badge import schema_badge
from ui.target_picker import all_targets, pick_target

state = st.session_state
st.title("💬 Chat")
store = get_store()
# first, so a conversation resumed from the URL can fill the picker and params below
current_id(store, [t.target for t in all_targets()])

with st.sidebar:
    info = pick_target("chat_target")
    target = info.target
    params, system = params_panel("chat", set(info.capabilities.ignored_params), local=info.capabilities.local,
                                  formats=True)
conv_id = conversation_sidebar(store, [t.target for t in all_targets()])


def _switch(message_id: int) -> None:
    convs.switch_to(store, state[CURRENT], message_id)


def _act(action: tuple) -> None:
    # buttons only record what to do; the generation runs below, where its output belongs
    state.chat_action = action
    state.pop("chat_editing", None)


def branch_switcher(turn: Turn) -> None:
    """◀ n / N ▶ between the alternatives at this point (earlier answers, earlier edits)."""
    sibs, i, mid = turn.siblings, turn.index, turn.message.id
    st.button("◀", key=f"chat_prev_{mid}", disabled=i == 0, on_click=_switch, args=(sibs[i - 1],),
              help="previous version")
    st.caption(f"version {i + 1:d} / {len(sibs)}", width="content")
    st.button("▶", key=f"chat_next_{mid}", disabled=i == len(sibs) - 1, on_click=_switch,
              args=(sibs[min(i + 1, len(sibs) - 1)],), help="next version")


def show_attachments(msg: StoredMessage) -> None:
    """A message's stored images, small, with their names."""
    for a in msg.attachments:
        try:
            st.image(store.attachment(a.sha256), caption=plain(a.label) or None, width=240)
        except Exception:  # noqa: BLE001 - a stored image that cannot be decoded must not break the page
            st.caption(f"🖼️ {plain(a.label or 'image')} ({plain(a.mime)}) cannot be shown")


def render_turn(turn: Turn, last: bool) -> None:
    """One stored message with its attachments, notices, metrics and actions."""
    msg = turn.message
    with st.chat_message(msg.role):
        if msg.notice:
            st.info(sanitize(msg.notice))
        show_attachments(msg)
        if state.get("chat_editing") == msg.id:
            with st.form(key=f"chat_edit_form_{msg.id}", border=False):
                st.text_area("Edit your message", msg.content, key=f"chat_edit_text_{msg.id}",
                             max_chars=MAX_PROMPT_CHARS)
                send, cancel = st.columns(2)
                send.form_submit_button("Send as a new branch", type="primary",
                                        on_click=lambda: _act(("edit", msg.id, state[f"chat_edit_text_{msg.id}"])))
                cancel.form_submit_button("Cancel", on_click=lambda: state.pop("chat_editing", None))
        else:
            show(msg.content)
        if msg.role == "assistant" and msg.stopped_early:
            st.warning("Stopped before the end: this answer is incomplete.")
        if msg.error.strip():
            st.error(sanitize(msg.error))
        if msg.role == "assistant" and msg.metrics:
            metrics_caption(msg.metrics, msg.finish_reason)
            schema_badge(msg.metrics, msg.params.response_format if msg.params else None)
            st.caption(sanitize(msg.target or ""))
        # one row of actions under the message
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            if len(turn.siblings) > 1:
                branch_switcher(turn)
            if msg.role == "user" and state.get("chat_editing") != msg.id:
                st.button("✏️ Edit", key=f"chat_edit_{msg.id}",
                          on_click=lambda: state.update(chat_editing=msg.id))
            if msg.role == "assistant" and msg.content:
                with st.popover("📋 Copy"):
                    # st.code shows the raw text with a copy-to-clipboard button
                    st.code(msg.content, language=None, wrap_lines=True)
            if last:
                st.button("🔄 Regenerate", key="chat_regenerate", on_click=_act, args=(("regenerate",),))


action = state.pop("chat_action", None)
turns = convs.path(store, conv_id) if conv_id else []
shown = turns
if action and action[0] == "regenerate" and turns and turns[-1].message.role == "assistant":
    shown = turns[:-1]  # the new answer streams in its place; the old one stays one click away
elif action and action[0] == "edit":
    ids = [t.message.id for t in turns]
    shown = turns[: ids.index(action[1])] if action[1] in ids else turns  # the edited branch replaces these
# a long conversation opens on its latest messages; earlier ones are drawn on demand, a page at a time
hidden = earlier_messages(conv_id, len(shown))
for n, turn in enumerate(shown[hidden:], start=hidden):
    render_turn(turn, last=n == len(turns) - 1)
# the last request of this conversation in this session, as a script for its runtime
last_request = state.get("chat_last_request")
code_panel(last_request[1] if last_request and last_request[0] == conv_id else None, key="chat_code")

if any(t.message.role == "user" for t in turns):
    # the conversation as a GitHub prompt file: system prompt, messages up to the last question, parameters;
    # written when the button is clicked, not on every rerun (a long conversation is a long file)
    file_download("⬇ Save as prompt file",
                  lambda: from_chat([(t.message.role, t.message.content) for t in turns], system=system,
                                    params=params, target=target, name=turns[0].message.content[:60]),
                  file_name="chat.prompt.yml", mime="application/yaml", key="chat_save_prompt_file", where=st.sidebar,
                  help="a .prompt.yml (GitHub Models format) to run on the Evaluate page")

ready = info.available and params is not None
# images attached to the question: for vision targets the chat input takes them
prompt, images = chat_input_with_images(info, ready, key="chat_input")

if prompt is not None:
    action = ("send", prompt)
if action and not ready:
    st.warning("Pick an available target (and valid parameters) first.")
    if action[0] != "regenerate" and action[-1].strip():
        # nothing was stored: keep what was typed, to copy and send once the settings are fixed
        st.caption("Your message was not sent; here it is to copy:")
        st.code(action[-1], language=None, wrap_lines=True)
    st.stop()
if action:
    if action[0] == "send" and not (action[1].strip() or images):
        st.warning("Type a message first: the prompt is empty.")
        st.stop()
    try:
        settings = TurnSettings(target, params, system)
        # the question is stored before anything is generated, so nothing typed is lost
        if action[0] == "send":
            conv_id, user_id = convs.ask(store, conv_id, action[1], settings, images=images)
            state[CURRENT] = conv_id
        elif action[0] == "edit":
            user_id = convs.edit_question(store, conv_id, action[1], action[2])
        else:
            user_id = convs.last_question(store, conv_id)
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        if action[0] != "regenerate" and action[-1].strip():
            # nothing was stored: keep what was typed, to copy and send again
            st.caption("Your message was not sent; here it is to copy:")
            st.code(action[-1], language=None, wrap_lines=True)
        st.stop()
    if action[0] != "regenerate":
        with st.chat_message("user"):
            question = store.get_message(user_id)
            show_attachments(question)
            show(question.content)
    if not ensure_embedded_ready(target):
        st.stop()
    with st.chat_message("assistant"):
        try:
            with st.spinner("Loading the model…"):
                reply = convs.answer(store, conv_id, user_id, settings)
                state.chat_last_request = (conv_id, reply.request)  # for the Code panel
        except PlaygroundError:
            # the reason is stored beside the question and shown after the rerun
            st.rerun()
        # a click on Stop reruns the script, which leaves this block and closes the answer: the partial
        # answer stays stored (an error too, shown after the rerun)
        with reply:
            if reply.notices:
                st.info(sanitize(" ".join(reply.notices)))
            st.button("⏹ Stop", key=f"chat_stop_{reply.message_id}")
            # re-rendered at most every 0.1 s: parsing the whole answer per token would be quadratic
            LiveMarkdown(st).follow(reply)
    st.rerun()
