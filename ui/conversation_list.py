"""Sidebar list of stored conversations (chat and vision): new, search, resume, rename, export, import, delete."""

from __future__ import annotations

import streamlit as st

from services.conversations.import_export import export_json_text, export_markdown, import_json
from services.conversations.rows import Conversation
from services.errors import PlaygroundError
from services.conversations.store import Store, StoreError, open_store
from services.types import GenerationParams
from ui.file_download import file_download
from ui.params_panel import LIMITS, offers, restore_format
from ui.safe_markdown import plain, sanitize

CURRENT = "chat_conversation"
# each kind of conversation opens on its own page; widget and state keys start with the kind
PAGES = {"chat": "app_pages/chat.py", "vision": "app_pages/vision.py"}
# a chat is the plain case; other kinds are marked in the list
ICONS = {"vision": "🖼️"}
NEW_LABELS = {"chat": "➕ New chat", "vision": "➕ New conversation"}
# a conversation opens on this many of its latest messages; each "earlier" click draws this many more
PAGE_MESSAGES = 40


def current_key(kind: str = "chat") -> str:
    """The session key holding the id of the conversation on the page for this kind."""
    return f"{kind}_conversation"


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


def current_id(store: Store, targets: list[str] = (), kind: str = "chat") -> str | None:
    """The conversation on screen: from the URL when it names another one of this kind (a refresh,
    or a click in another page's list), else from this session.

    Call it before the target picker and params panel render, so a resumed conversation's
    settings can still be put into them.
    """
    state = st.session_state
    key = current_key(kind)
    from_url = st.query_params.get("c")
    # only an address this session has not shown yet counts: after "New chat" the old ?c= is still
    # there until this run ends, and must not reopen the conversation just left
    if from_url and from_url != state.get(f"{kind}_url_conversation"):
        state[f"{kind}_url_conversation"] = from_url
        conv = store.get_conversation(from_url)
        if conv is not None and conv.kind == kind:
            set_current(store, from_url, targets=targets, kind=kind)
    state.setdefault(key, None)
    conv_id = state[key]
    if conv_id and store.get_conversation(conv_id) is None:
        conv_id = state[key] = None
    return conv_id


def earlier_messages(conv_id: str | None, total: int, kind: str = "chat") -> int:
    """How many of a conversation's first messages to leave undrawn, with the button that draws a page more.

    Drawing every message of a 10,000-message conversation took 45 s per rerun; the latest page is enough
    to go on with, and the window each conversation was widened to lasts for the session.
    """
    windows = st.session_state.setdefault(f"{kind}_message_windows", {})
    shown = windows.get(conv_id, PAGE_MESSAGES)
    hidden = max(total - shown, 0)
    if hidden:
        st.button(plain(f"⬆ Show {min(PAGE_MESSAGES, hidden)} earlier messages ({hidden:,} not shown)"),
                  key=f"{kind}_earlier", on_click=windows.__setitem__, args=(conv_id, shown + PAGE_MESSAGES))
    return hidden


def set_current(store: Store, conv_id: str | None, *, targets: list[str] = (), kind: str = "chat") -> None:
    """Show conversation conv_id (None: a new one); restores its system prompt, target and parameters."""
    state = st.session_state
    state[current_key(kind)] = conv_id
    state.pop(f"{kind}_confirm_delete", None)
    state.pop(f"{kind}_editing", None)
    conv = store.get_conversation(conv_id) if conv_id else None
    if conv is not None:
        state[f"{kind}_system"] = conv.system
        if conv.target in targets:
            state[f"{kind}_target"] = conv.target
        if conv.params is not None:
            _restore_params(conv.params, kind)
    elif kind == "chat":
        state["chat_system"] = ""


def _restore_params(params: GenerationParams, kind: str = "chat") -> None:
    """Put a resumed conversation's sampling settings back into the params panel."""
    state = st.session_state
    for name, limit in LIMITS.items():
        value = getattr(params, name)
        if offers(name, value):  # a value outside the control's range is left as the control has it
            state[f"{kind}_{name}"] = int(value) if isinstance(limit.step, int) else float(value)
    state[f"{kind}_seed"] = "" if params.seed is None else str(params.seed)
    if all("," not in s for s in params.stop):
        state[f"{kind}_stop_strings"] = ", ".join(params.stop)
    restore_format(params.response_format, kind)


def _delete(store: Store, conv_id: str, kind: str) -> None:
    store.delete_conversation(conv_id)
    set_current(store, None, kind=kind)
    st.session_state[f"{kind}_flash"] = "Conversation deleted."


def _rename(store: Store, conv_id: str, kind: str) -> None:
    try:
        store.rename_conversation(conv_id, st.session_state.get(f"{kind}_title_{conv_id}", ""))
    except PlaygroundError as exc:
        st.session_state[f"{kind}_flash"] = exc.user_message()


def _manage(store: Store, conv: Conversation, kind: str) -> None:
    """Rename, export and delete for the conversation on screen."""
    state = st.session_state
    cid = conv.id
    confirm = f"{kind}_confirm_delete"
    with st.expander("This conversation", expanded=state.get(confirm) == cid):
        st.text_input("Title", value=conv.title, key=f"{kind}_title_{cid}")
        st.button("Rename", key=f"{kind}_rename", on_click=_rename, args=(store, cid, kind), use_container_width=True)
        # deferred: the export (attachments in base64) is built only when the button is clicked
        file_download("⬇ Export JSON", lambda: export_json_text(store, cid), file_name=f"conversation-{cid}.json",
                      mime="application/json", key=f"{kind}_export_json", use_container_width=True)
        file_download("⬇ Export Markdown", lambda: export_markdown(store, cid), file_name=f"conversation-{cid}.md",
                      mime="text/markdown", key=f"{kind}_export_md", use_container_width=True)
        if state.get(confirm) != cid:
            st.button("🗑 Delete…", key=f"{kind}_delete", on_click=lambda: state.update({confirm: cid}),
                      use_container_width=True)
        else:
            st.warning(f"Delete “{plain(conv.title or 'Untitled')}” and all its messages? This cannot be undone.")
            yes, no = st.columns(2)
            yes.button("Delete", key=f"{kind}_delete_yes", type="primary", on_click=_delete, args=(store, cid, kind))
            no.button("Cancel", key=f"{kind}_delete_no", on_click=lambda: state.pop(confirm, None))


def _imported(store: Store, targets: list[str], kind: str) -> None:
    # a callback, so the imported conversation (and its system prompt) shows on this very run
    upload = st.session_state.get(f"{kind}_import")
    if upload is None:
        return
    try:
        new_id = import_json(store, upload.getvalue())
    except PlaygroundError as exc:
        st.session_state[f"{kind}_flash_error"] = exc.user_message()
        return
    imported = store.get_conversation(new_id).kind
    if imported == kind:
        set_current(store, new_id, targets=targets, kind=kind)
        st.session_state[f"{kind}_flash"] = "Imported as a new conversation."
    else:
        st.session_state[f"{kind}_flash"] = (f"Imported as a new {imported} conversation: it is in the list below "
                                             f"and opens on the {imported.capitalize()} page.")


def _row(c: Conversation, conv_id: str | None, kind: str, store: Store, targets: list[str]) -> None:
    """One conversation's button: this page's kind opens here, another kind switches to its page."""
    other = c.kind
    # titles come from prompts and imported files: labels render markdown, so defuse it
    title = f"{ICONS.get(other, '')} {c.title or 'Untitled'}".strip()
    key = f"{kind}_open_{c.id}"
    if other == kind:
        st.button(plain(title), key=key, use_container_width=True, type="primary" if c.id == conv_id else "secondary",
                  on_click=set_current, args=(store, c.id), kwargs={"targets": targets, "kind": kind})
    elif st.button(plain(title), key=key, use_container_width=True,
                   help=plain(f"opens on the {other.capitalize()} page")):
        # not from a callback: switching pages ends this run, and the other page reads ?c= first
        st.switch_page(PAGES[other], query_params={"c": c.id})


def conversation_sidebar(store: Store, targets: list[str], kind: str = "chat") -> str | None:
    """Render the list (every kind) in the sidebar; return the id of this page's conversation (None = new)."""
    state = st.session_state
    conv_id = current_id(store, kind=kind)
    with st.sidebar:
        st.subheader("Conversations")
        if state.get(f"{kind}_flash"):
            st.info(sanitize(state.pop(f"{kind}_flash")))
        st.button(plain(NEW_LABELS[kind]), key=f"{kind}_new", on_click=set_current, args=(store, None),
                  kwargs={"kind": kind}, use_container_width=True)
        query = st.text_input("Search conversations", key=f"{kind}_search", placeholder="words in titles or messages")
        rows = store.search(query, 50) if query.strip() else store.list_conversations(50)
        if query.strip() and not rows:
            st.caption("No conversation matches.")
        elif not rows:
            st.caption("No conversations yet: each question you ask is kept here.")
        with st.container(height=260 if len(rows) > 7 else "content", border=False):
            for c in rows:
                _row(c, conv_id, kind, store, targets)
        if conv_id:
            _manage(store, store.get_conversation(conv_id), kind)
        st.file_uploader("Import a JSON export", type=["json"], key=f"{kind}_import",
                         on_change=_imported, args=(store, targets, kind))
        if state.get(f"{kind}_flash_error"):
            st.error(sanitize(state.pop(f"{kind}_flash_error")))
    state[f"{kind}_url_conversation"] = conv_id
    if conv_id:
        st.query_params["c"] = conv_id
    elif "c" in st.query_params:
        del st.query_params["c"]
    return conv_id
