"""Stored conversations: the visible branch, sending, regenerating, editing, streaming answers into the store."""

from __future__ import annotations

import time

from services.chat import check_length, start_chat
from services.errors import BadRequest, PlaygroundError
from services.conversations.rows import NewMessage, StoredMessage, Turn, TurnSettings
from services.conversations.store import INCOMPLETE, Store
from services.streaming import Answer, AnswerOutcome
from services.types import ImagePart, Message

# a streaming answer is written to the database at most this often (and always at the end)
FLUSH_EVERY_S = 0.25


def path(store: Store, conv_id: str, leaf: int | None = None) -> list[Turn]:
    """The turns from the root to leaf (default: the active leaf), each with the alternatives at its place."""
    conv = store.require_conversation(conv_id)
    messages = store.messages(conv_id)
    by_id = {m.id: m for m in messages}
    children = _children(messages)
    leaf = conv.active_leaf if leaf is None else leaf
    out = []
    while leaf is not None and leaf in by_id:
        m = by_id[leaf]
        siblings = tuple(children[m.parent_id])
        out.append(Turn(m, siblings, siblings.index(m.id)))
        leaf = m.parent_id
    return out[::-1]


def _children(messages: list[StoredMessage]) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = {}
    for m in messages:
        children.setdefault(m.parent_id, []).append(m.id)
    return children


def latest_leaf(store: Store, conv_id: str, message_id: int) -> int:
    """The newest descendant reached by always following the newest child."""
    children = _children(store.messages(conv_id))
    node = message_id
    while children.get(node):
        node = children[node][-1]
    return node


def switch_to(store: Store, conv_id: str, message_id: int) -> None:
    """Show the branch through message_id (an alternative answer or an earlier edit)."""
    msg = store.get_message(message_id)
    if msg is None or msg.conversation_id != conv_id:
        raise BadRequest(f"Message {message_id} is not part of conversation {conv_id}.")
    store.set_active_leaf(conv_id, latest_leaf(store, conv_id, message_id))


def images_of(store: Store, msg: StoredMessage) -> tuple[ImagePart, ...]:
    """A stored message's attachments as ImageParts (bytes read from the store)."""
    return tuple(ImagePart(store.attachment(a.sha256), a.mime, a.label, a.timestamp_s) for a in msg.attachments)


def history(store: Store, conv_id: str, upto: int, system: str = "") -> list[Message]:
    """What the model sees for an answer to message `upto`: the system prompt and that branch."""
    turns = [t.message for t in path(store, conv_id, upto) if t.message.role in ("user", "assistant")]
    # an earlier answer that failed before any text is not a turn the model should see
    turns = [m for m in turns if m.content or m.role == "user" or m.attachments]
    head = [Message("system", system)] if system.strip() else []
    return head + [Message(m.role, m.content, images_of(store, m)) for m in turns]


class TurnSaver:
    """Keeps an answer in the store as it streams: the on_text and on_done hooks of its Answer.

    The row exists before the first token with finish_reason "incomplete", so a process killed
    mid-answer leaves the partial text stored and marked incomplete; the real reason replaces it
    when the answer ends, also when a rerun abandons it (then "cancelled").
    """

    def __init__(self, store: Store, message_id: int):
        self.store, self.message_id = store, message_id
        self.text = ""
        self.last_flush = time.monotonic()

    def grow(self, piece: str) -> None:
        """Add a piece; write the text so far at most every FLUSH_EVERY_S."""
        self.text += piece
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.store.update_message(self.message_id, content=self.text)
            self.last_flush = time.monotonic()

    def done(self, outcome: AnswerOutcome) -> None:
        """Store the ending: the text, why it stopped, metrics and any error."""
        finish = INCOMPLETE if outcome.error else outcome.finish_reason
        self.store.update_message(self.message_id, content=outcome.text, finish_reason=finish,
                                  metrics=outcome.metrics, error=outcome.error_message)


def answer(store: Store, conv_id: str, user_id: int, settings: TurnSettings, *,
           messages: list[Message] | None = None) -> Answer:
    """Start an answer to a stored question, kept in the store as it streams; a failure to start is kept
    beside the question.

    `messages`: what the model sees, when the caller builds it (default: history()).
    """
    store.save_settings(conv_id, settings)
    if messages is None:
        messages = history(store, conv_id, user_id, settings.system)
    try:
        reply = start_chat(settings.target, messages, settings.params)
    except PlaygroundError as exc:
        store.update_message(user_id, error=exc.user_message())
        raise
    if store.get_message(user_id).error:
        # a retry that starts clears the earlier failure note
        store.update_message(user_id, error="")
    message_id = store.add_message(conv_id, NewMessage("assistant", "", notice=" ".join(reply.notices),
                                                       target=settings.target, params=settings.params,
                                                       finish_reason=INCOMPLETE), parent_id=user_id)
    saver = TurnSaver(store, message_id)
    reply.conv_id, reply.message_id = conv_id, message_id
    return reply.on_text(saver.grow).on_done(saver.done)


def ask(store: Store, conv_id: str | None, prompt: str, settings: TurnSettings | None = None, *,
        images: tuple[ImagePart, ...] = ()) -> tuple[str, int]:
    """Store the user's question (creating the conversation, with settings, if needed) before anything is generated."""
    if not prompt.strip() and not images:
        raise BadRequest("Type a message first: the prompt is empty.")
    check_length(prompt)
    if settings is not None:
        check_length(settings.system, "The system prompt")
    if conv_id is None:
        conv_id = store.create_conversation(settings=settings)
    else:
        store.require_conversation(conv_id)
    return conv_id, store.add_message(conv_id, NewMessage("user", prompt, images=images))


def send(store: Store, conv_id: str | None, prompt: str, settings: TurnSettings, *,
         images: tuple[ImagePart, ...] = ()) -> Answer:
    """Store the question, then start its answer (the CLI's one call)."""
    conv_id, user_id = ask(store, conv_id, prompt, settings, images=images)
    return answer(store, conv_id, user_id, settings)


def last_question(store: Store, conv_id: str) -> int:
    """The question a regenerate answers again: the last one on the visible branch."""
    user = [t.message for t in path(store, conv_id) if t.message.role == "user"]
    if not user:
        raise BadRequest("There is nothing to regenerate yet: ask something first.")
    return user[-1].id


def regenerate(store: Store, conv_id: str, settings: TurnSettings) -> Answer:
    """A new answer to the last question; the previous answer stays as an alternative."""
    return answer(store, conv_id, last_question(store, conv_id), settings)


def own_question(store: Store, conv_id: str, message_id: int) -> StoredMessage:
    """The user's message message_id of this conversation, or a BadRequest (only those can be edited)."""
    old = store.get_message(message_id)
    if old is None or old.conversation_id != conv_id or old.role != "user":
        raise BadRequest("Only your own messages in this conversation can be edited.")
    return old


def edit_question(store: Store, conv_id: str, message_id: int, new_text: str) -> int:
    """Store an edited question as a sibling of the original (a new branch); returns its id."""
    old = own_question(store, conv_id, message_id)
    if not new_text.strip() and not old.attachments:
        raise BadRequest("The edited message is empty.")
    check_length(new_text, "The edited message")
    return store.add_message(conv_id, NewMessage("user", new_text, images=images_of(store, old)),
                             parent_id=old.parent_id)


def edit(store: Store, conv_id: str, message_id: int, new_text: str, settings: TurnSettings) -> Answer:
    """Resend an edited question as a new branch from the same point; the old branch is kept."""
    return answer(store, conv_id, edit_question(store, conv_id, message_id, new_text), settings)
