"""Vision conversations in the store: the images and frames go with the first question, follow-ups ask about them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from services.chat import check_length
from services.conversations import branches
from services.conversations.store import Store
from services.errors import BadRequest
from services.media import vision
from services.types import GenerationParams, ImagePart, Message

KIND = "vision"


def media_digest(parts: Sequence[ImagePart]) -> str:
    """A short digest of the media's bytes: the same uploads give the same digest on every rerun."""
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p.data).digest())
    return h.hexdigest()[:16]


def require(store: Store, conv_id: str) -> dict:
    """The vision conversation conv_id, or a BadRequest saying it is not one."""
    conv = store.require_conversation(conv_id)
    if conv.get("kind") != KIND:
        raise BadRequest(f"Conversation {conv_id} is a chat, not a vision conversation; open it on the Chat page "
                         "or with `python -m services chat --conversation`.")
    return conv


def turns(store: Store, conv_id: str) -> list[dict]:
    """The visible branch, oldest first (store message dicts with attachments)."""
    require(store, conv_id)
    return branches.path(store, conv_id)


def media(store: Store, conv_id: str) -> tuple[ImagePart, ...]:
    """The photos and frames the conversation is about (stored on its first question), in prompt order."""
    first = next((m for m in turns(store, conv_id) if m["role"] == "user"), None)
    return branches.images_of(store, first) if first else ()


def split_media(parts: Sequence[ImagePart]) -> tuple[list[ImagePart], list[ImagePart]]:
    """(photos, video frames): frames are the parts with a timestamp."""
    return [p for p in parts if p.timestamp_s is None], [p for p in parts if p.timestamp_s is not None]


def ask(store: Store, conv_id: str | None, question: str, *, images: Sequence[ImagePart] = (),
        frames: Sequence[ImagePart] = (), target: str | None = None, params: GenerationParams | None = None,
        system: str = "", note: str = "") -> tuple[str, int]:
    """Store a question before anything is generated; a new conversation stores the media with it.

    `note` describes the media (a video's facts and sampling) and is kept on the first question.
    Returns (conversation id, question id).
    """
    check_length(question)
    check_length(system, "The system prompt")
    if conv_id is not None:
        require(store, conv_id)
        if not question.strip():
            raise BadRequest("Type a question first: it is empty.")
        return conv_id, store.add_message(conv_id, "user", question.strip())
    # photos first, then frames in time order: the order every backend numbers them in
    message = vision.question_message(question, images, frames)
    if not message.images:
        raise BadRequest("Add images or a video first: a vision question is about them.")
    conv_id = store.create_conversation(kind=KIND, target=target, params=params.to_dict() if params else None,
                                        system=system)
    return conv_id, store.add_message(conv_id, "user", message.content, images=message.images, notice=note)


def history(store: Store, conv_id: str, upto: int, system: str = "") -> list[Message]:
    """What the model sees for an answer to question `upto`: the media on the first question sent.

    A question that failed to start and an answer that failed or came back empty stay stored and
    on screen, but are not sent again.
    """
    path = branches.path(store, conv_id, upto)
    parts = branches.images_of(store, path[0]) if path else ()
    out = [Message("system", system)] if system.strip() else []
    first = True
    for m in path:
        if m["role"] not in ("user", "assistant"):
            continue
        if m["id"] != upto and (m["error"] or not m["content"]):
            continue
        if m["role"] == "user" and first:
            out.append(Message("user", m["content"], parts))
            first = False
        else:
            out.append(Message(m["role"], m["content"]))
    return out


def answer(store: Store, conv_id: str, user_id: int, target: str, params: GenerationParams,
           system: str = "") -> branches.Reply:
    """Start the answer to a stored question; it is stored as it streams (see branches.Reply)."""
    require(store, conv_id)
    return branches.answer(store, conv_id, user_id, target, params, system,
                           messages=history(store, conv_id, user_id, system))


def send(store: Store, conv_id: str | None, question: str, target: str, params: GenerationParams, system: str = "",
         *, images: Sequence[ImagePart] = (), frames: Sequence[ImagePart] = (), note: str = "") -> branches.Reply:
    """Store the question, then start its answer (the CLI's one call)."""
    conv_id, user_id = ask(store, conv_id, question, images=images, frames=frames, target=target, params=params,
                           system=system, note=note)
    return answer(store, conv_id, user_id, target, params, system)
