"""Sidebar list of stored conversations: new, search, resume, rename, export, import, delete (asked first)."""

from __future__ import annotations

import streamlit as st

from services.conversations.import_export import export_json_text, export_markdown, import_json
from services.errors import PlaygroundError
from services.conversations.store import Store, StoreError, open_store
from ui.safe_markdown import plain, sanitize

CURRENT = "chat_conversation"
CONFIRM = "chat_confirm_delete"


def get_store() -> Store:
    """The conversation store; if the file cannot be used, say so and keep this session in memory."""
    state = st.session_state
    try:
        store = open_store()
    except StoreError as exc:
        st.error(sanitize(exc.user_message()))
        st.warning("Conversations in this session are kept in memory only and will not be saved.")
        if "chat_memory_store" not in state:
            state.chat_memory_store = open_store(":memory:")
        return state.chat_memory_store
    if store.notice and not state.get("chat_store_notice_shown"):
        # a damaged file was set aside: tell each new session once
        state.chat_store_notice_shown = True
        st.warning(sanitize(store.notice))
    return store


def current_id(store: Store, targets: list[str] = ()) -> str | None:
    """The conversation on screen: from this session, else from the URL (so a refresh resumes it).

    Call it before the target picker and params panel render, so a resumed conversation's
    settings can still be put into them.
    """
    state = st.session_state
    if CURRENT not in state:
        from_url = st.query_params.get("c")
        if from_url and store.get_conversation(from_url):
            set_current(store, from_url, targets=targets)
        else:
            state[CURRENT] = None
    conv_id = state[CURRENT]
    if conv_id and store.get_conversation(conv_id) is None:
        conv_id = state[CURRENT] = None
    return conv_id


def set_current(store: Store, conv_id: str | None, *, targets: list[str] = ()) -> None:
    """Show conversation conv_id (None: a new chat); restores its system prompt and target."""
    state = st.session_state
    state[CURRENT] = conv_id
    state.pop(CONFIRM, None)
    state.pop("chat_editing", None)
    conv = store.get_conversation(conv_id) if conv_id else None
    if conv is not None:
        state["chat_system"] = conv["system"]
        if conv["target"] in targets:
            state["chat_target"] = conv["target"]
        _restore_params(conv["params"])
    else:
        state["chat_system"] = ""


# the params panel's widgets and the range each accepts (a value outside it is left as it is)
_PARAM_WIDGETS = {"temperature": (0.0, 2.0), "top_p": (0.01, 1.0), "top_k": (0, 1000),
                  "max_tokens": (1, 32768), "repetition_penalty": (0.5, 2.0)}


def _restore_params(params: dict) -> None:
    """Put a resumed conversation's sampling settings back into the params panel."""
    state = st.session_state
    for name, (lo, hi) in _PARAM_WIDGETS.items():
        value = params.get(name)
        if isinstance(value, (int, float)) and lo <= value <= hi:
            state[f"chat_{name}"] = float(value) if isinstance(lo, float) else int(value)
    if "seed" in params:
        state["chat_seed"] = "" if params["seed"] is None else str(params["seed"])
    if "stop" in params and all("," not in s for s in params["stop"] or []):
        state["chat_stop_strings"] = ", ".join(params["stop"] or [])


def _delete(store: Store, conv_id: str) -> None:
    store.delete_conversation(conv_id)
    set_current(store, None)
    st.session_state.chat_flash = "Conversation deleted."


def _rename(store: Store, conv_id: str) -> None:
    try:
        store.rename_conversation(conv_id, st.session_state.get(f"chat_title_{conv_id}", ""))
    except PlaygroundError as exc:
        st.session_state.chat_flash = exc.user_message()


def _manage(store: Store, conv: dict) -> None:
    """Rename, export and delete for the conversation on screen."""
    state = st.session_state
    cid = conv["id"]
    with st.expander("This conversation", expanded=state.get(CONFIRM) == cid):
        st.text_input("Title", value=conv["title"], key=f"chat_title_{cid}")
        st.button("Rename", key="chat_rename", on_click=_rename, args=(store, cid), use_container_width=True)
        # deferred: the export (attachments in base64) is built only when the button is clicked
        st.download_button("⬇ Export JSON", lambda: export_json_text(store, cid), file_name=f"conversation-{cid}.json",
                           mime="application/json", key="chat_export_json", on_click="ignore",
                           use_container_width=True)
        st.download_button("⬇ Export Markdown", lambda: export_markdown(store, cid), file_name=f"conversation-{cid}.md",
                           mime="text/markdown", key="chat_export_md", on_click="ignore", use_container_width=True)
        if state.get(CONFIRM) != cid:
            st.button("🗑 Delete…", key="chat_delete", on_click=lambda: state.update({CONFIRM: cid}),
                      use_container_width=True)
        else:
            st.warning(f"Delete “{plain(conv['title'] or 'Untitled')}” and all its messages? This cannot be undone.")
            yes, no = st.columns(2)
            yes.button("Delete", key="chat_delete_yes", type="primary", on_click=_delete, args=(store, cid))
            no.button("Cancel", key="chat_delete_no", on_click=lambda: state.pop(CONFIRM, None))


def _imported(store: Store, targets: list[str]) -> None:
    # a callback, so the imported conversation (and its system prompt) shows on this very run
    upload = st.session_state.get("chat_import")
    if upload is None:
        return
    try:
        new_id = import_json(store, upload.getvalue())
    except PlaygroundError as exc:
        st.session_state.chat_flash_error = exc.user_message()
        return
    set_current(store, new_id, targets=targets)
    st.session_state.chat_flash = "Imported as a new conversation."


def conversation_sidebar(store: Store, targets: list[str]) -> str | None:
    """Render the list in the sidebar; return the id of the conversation to show (None = new chat)."""
    state = st.session_state
    conv_id = current_id(store)
    with st.sidebar:
        st.subheader("Conversations")
        if state.get("chat_flash"):
            st.info(sanitize(state.pop("chat_flash")))
        st.button("➕ New chat", key="chat_new", on_click=set_current, args=(store, None),
                  use_container_width=True)
        query = st.text_input("Search conversations", key="chat_search", placeholder="words in titles or messages")
        rows = store.search(query, 50) if query.strip() else store.list_conversations(50)
        if query.strip() and not rows:
            st.caption("No conversation matches.")
        with st.container(height=260 if len(rows) > 7 else "content", border=False):
            for c in rows:
                # titles come from prompts and imported files: labels render markdown, so defuse it
                st.button(plain(c["title"]) or "Untitled", key=f"chat_open_{c['id']}", use_container_width=True,
                          type="primary" if c["id"] == conv_id else "secondary",
                          on_click=set_current, args=(store, c["id"]), kwargs={"targets": targets})
        if conv_id:
            _manage(store, store.get_conversation(conv_id))
        st.file_uploader("Import a JSON export", type=["json"], key="chat_import",
                         on_change=_imported, args=(store, targets))
        if state.get("chat_flash_error"):
            st.error(sanitize(state.pop("chat_flash_error")))
    if conv_id:
        st.query_params["c"] = conv_id
    elif "c" in st.query_params:
        del st.query_params["c"]
    return conv_id
