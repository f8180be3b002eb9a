"""Stored conversations: the visible branch, sending, regenerating, editing, streaming answers into the store."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator

from services.chat import check_length, start_chat
from services.errors import BadRequest, PlaygroundError
from services.conversations.rows import NewMessage, StoredMessage, Turn, TurnSettings
from services.conversations.store import INCOMPLETE, Store
from services.streaming import StreamOutcome, read_pieces
from services.types import GenerationParams, ImagePart, Message

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


class Reply:
    """An assistant answer being generated: stored first, then grown as text streams in.

    The row exists before the first token with finish_reason "incomplete", so a process killed
    mid-answer leaves the partial text stored and marked incomplete; the real reason replaces it
    at the end. Closing (or abandoning) the iterator stores it as cancelled.
    """

    def __init__(self, store: Store, conv_id: str, parent_id: int, stream, target: str, params: GenerationParams):
        self.store, self.conv_id, self.stream = store, conv_id, stream
        self.text = ""
        self.error = ""
        self.notice = " ".join(stream.notices)
        self.finish_reason: str | None = None
        self.outcome: StreamOutcome | None = None
        self.message_id = store.add_message(conv_id, NewMessage("assistant", "", notice=self.notice, target=target,
                                                                params=params, finish_reason=INCOMPLETE),
                                            parent_id=parent_id)

    def pieces(self, on_text: Callable[[str], None] | None = None) -> Generator[str, None, StreamOutcome]:
        """Yield text pieces while saving them; return the outcome, stored on the message with any error.

        on_text sees each piece as it arrives (the CLI prints them).
        """
        last_flush = time.monotonic()

        def grow(piece: str) -> None:
            nonlocal last_flush
            self.text += piece
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                self.store.update_message(self.message_id, content=self.text)
                last_flush = time.monotonic()
            if on_text is not None:
                on_text(piece)

        try:
            outcome = yield from read_pieces(self.stream, on_text=grow)
            self.outcome, self.text, self.error = outcome, outcome.text, outcome.error_message
            self.finish_reason = INCOMPLETE if outcome.error else outcome.finish_reason or "stop"
            return outcome
        finally:
            # also runs when a Stop click reruns the page and abandons this generator
            self.stream.close()
            self.finish_reason = self.finish_reason or "cancelled"
            self.store.update_message(self.message_id, content=self.text, finish_reason=self.finish_reason,
                                      metrics=self.stream.metrics, error=self.error)

    def chunks(self) -> Iterator[str]:
        """Yield text pieces while saving them; errors are stored on the message, then re-raised."""
        outcome = yield from self.pieces()
        if outcome.error is not None:
            raise outcome.error

    def finish(self, on_text: Callable[[str], None] | None = None) -> StreamOutcome:
        """Generate to the end without raising; the outcome (and any error) is stored on the message."""
        for _ in self.pieces(on_text):
            pass
        return self.outcome

    def run(self) -> Reply:
        """Generate to the end (CLI, tests); an error is stored, then raised."""
        if self.finish().error is not None:
            raise self.outcome.error
        return self


def answer(store: Store, conv_id: str, user_id: int, settings: TurnSettings, *,
           messages: list[Message] | None = None) -> Reply:
    """Start an answer to a stored question; a failure to start is kept beside the question.

    `messages`: what the model sees, when the caller builds it (default: history()).
    """
    store.save_settings(conv_id, settings)
    if messages is None:
        messages = history(store, conv_id, user_id, settings.system)
    try:
        stream = start_chat(settings.target, messages, settings.params)
    except PlaygroundError as exc:
        store.update_message(user_id, error=exc.user_message())
        raise
    if store.get_message(user_id).error:
        # a retry that starts clears the earlier failure note
        store.update_message(user_id, error="")
    return Reply(store, conv_id, user_id, stream, settings.target, settings.params)


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
         images: tuple[ImagePart, ...] = ()) -> Reply:
    """Store the question, then start its answer (the CLI's one call)."""
    conv_id, user_id = ask(store, conv_id, prompt, settings, images=images)
    return answer(store, conv_id, user_id, settings)


def last_question(store: Store, conv_id: str) -> int:
    """The question a regenerate answers again: the last one on the visible branch."""
    user = [t.message for t in path(store, conv_id) if t.message.role == "user"]
    if not user:
        raise BadRequest("There is nothing to regenerate yet: ask something first.")
    return user[-1].id


def regenerate(store: Store, conv_id: str, settings: TurnSettings) -> Reply:
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


def edit(store: Store, conv_id: str, message_id: int, new_text: str, settings: TurnSettings) -> Reply:
    """Resend an edited question as a new branch from the same point; the old branch is kept."""
    return answer(store, conv_id, edit_question(store, conv_id, message_id, new_text), settings)
