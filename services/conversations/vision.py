"""Vision conversations in the store: the images and frames go with the first question, follow-ups ask about them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from services.chat import check_length
from services.conversations import branches
from services.conversations.rows import Conversation, NewMessage, Turn, TurnSettings
from services.conversations.store import Store
from services.errors import BadRequest
from services.media import vision
from services.streaming import Answer
from services.types import ImagePart, Message

KIND = "vision"


@dataclass(frozen=True)
class Media:
    """What a new vision conversation is about: photos, a video's sampled frames, and a note on how they were taken."""

    images: tuple[ImagePart, ...] = ()
    frames: tuple[ImagePart, ...] = ()
    # the video's facts and sampling, kept on the first question
    note: str = ""

    def __post_init__(self):
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "frames", tuple(self.frames))


def media_digest(parts: Sequence[ImagePart]) -> str:
    """A short digest of the media's bytes: the same uploads give the same digest on every rerun."""
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p.data).digest())
    return h.hexdigest()[:16]


def require(store: Store, conv_id: str) -> Conversation:
    """The vision conversation conv_id, or a BadRequest saying it is not one."""
    conv = store.require_conversation(conv_id)
    if conv.kind != KIND:
        raise BadRequest(f"Conversation {conv_id} is a chat, not a vision conversation; open it on the Chat page "
                         "or with `python -m services chat --conversation`.")
    return conv


def turns(store: Store, conv_id: str) -> list[Turn]:
    """The visible branch, oldest first."""
    require(store, conv_id)
    return branches.path(store, conv_id)


def media(store: Store, conv_id: str) -> tuple[ImagePart, ...]:
    """The photos and frames the conversation is about (stored on its first question), in prompt order."""
    first = next((t.message for t in turns(store, conv_id) if t.message.role == "user"), None)
    return branches.images_of(store, first) if first else ()


def split_media(parts: Sequence[ImagePart]) -> tuple[list[ImagePart], list[ImagePart]]:
    """(photos, video frames): frames are the parts with a timestamp."""
    return [p for p in parts if p.timestamp_s is None], [p for p in parts if p.timestamp_s is not None]


def ask(store: Store, conv_id: str | None, question: str, settings: TurnSettings | None = None,
        media: Media = Media()) -> tuple[str, int]:
    """Store a question before anything is generated; a new conversation stores the media with it.

    Returns (conversation id, question id).
    """
    check_length(question)
    if settings is not None:
        check_length(settings.system, "The system prompt")
    if conv_id is not None:
        require(store, conv_id)
        if not question.strip():
            raise BadRequest("Type a question first: it is empty.")
        return conv_id, store.add_message(conv_id, NewMessage("user", question.strip()))
    # photos first, then frames in time order: the order every backend numbers them in
    message = vision.question_message(question, media.images, media.frames)
    if not message.images:
        raise BadRequest("Add images or a video first: a vision question is about them.")
    conv_id = store.create_conversation(kind=KIND, settings=settings)
    return conv_id, store.add_message(conv_id, NewMessage("user", message.content, images=message.images,
                                                          notice=media.note))


def history(store: Store, conv_id: str, upto: int, system: str = "") -> list[Message]:
    """What the model sees for an answer to question `upto`: the media on the first question sent.

    A question that failed to start and an answer that failed or came back empty stay stored and
    on screen, but are not sent again.
    """
    path = [t.message for t in branches.path(store, conv_id, upto)]
    parts = branches.images_of(store, path[0]) if path else ()
    out = [Message("system", system)] if system.strip() else []
    first = True
    for m in path:
        if m.role not in ("user", "assistant"):
            continue
        if m.id != upto and (m.error or not m.content):
            continue
        if m.role == "user" and first:
            out.append(Message("user", m.content, parts))
            first = False
        else:
            out.append(Message(m.role, m.content))
    return out


def answer(store: Store, conv_id: str, user_id: int, settings: TurnSettings) -> Answer:
    """Start the answer to a stored question; it is stored as it streams (see branches.answer)."""
    require(store, conv_id)
    return branches.answer(store, conv_id, user_id, settings,
                           messages=history(store, conv_id, user_id, settings.system))


def send(store: Store, conv_id: str | None, question: str, settings: TurnSettings,
         media: Media = Media()) -> Answer:
    """Store the question, then start its answer (the CLI's one call)."""
    conv_id, user_id = ask(store, conv_id, question, settings, media)
    return answer(store, conv_id, user_id, settings)
