"""The request a chat command would send, built without running it (for `chat --show-code`)."""

from __future__ import annotations

from services.conversations import branches
from services.conversations.rows import TurnSettings
from services.errors import BadRequest
from services.types import ChatRequest, Message, Target


def chat_request(store, settings: TurnSettings, prompt: str | None, *, conversation: str | None = None,
                 regenerate: bool = False, edit: int | None = None) -> ChatRequest:
    """The messages `chat` would send for these flags; nothing is stored and no model is loaded.

    Old turns are not trimmed to the context here (that needs the model's tokenizer): a conversation
    longer than the model's context shows in full.
    """
    system = settings.system
    head = [Message("system", system)] if system.strip() else []
    target, params = Target.parse(settings.target), settings.params
    if (regenerate or edit is not None) and not conversation:
        raise BadRequest("--regenerate and --edit need --conversation ID.")
    if not conversation:
        if not (prompt or "").strip():
            raise BadRequest("Type a message first: the prompt is empty.")
        return ChatRequest(target, tuple(head + [Message("user", prompt)]), params)
    store.require_conversation(conversation)
    if regenerate:
        messages = branches.history(store, conversation, branches.last_question(store, conversation), system)
    elif edit is not None:
        old = branches.own_question(store, conversation, edit)
        before = branches.history(store, conversation, old.parent_id, system) if old.parent_id else head
        messages = before + [Message("user", prompt or "", branches.images_of(store, old))]
    else:
        if not (prompt or "").strip():
            raise BadRequest("Type a message first: the prompt is empty.")
        turns = branches.path(store, conversation)
        before = branches.history(store, conversation, turns[-1].message.id, system) if turns else head
        messages = before + [Message("user", prompt)]
    return ChatRequest(target, tuple(messages), params)


def compare_requests(run) -> list[ChatRequest]:
    """The request each column of a compare run sends: the shared prompt, images only to vision targets."""
    # CompareRun decides per target which messages a column gets; asking it keeps the two from drifting
    return [ChatRequest(Target.parse(col.target), run.messages_for(col.target)[0], col.params)
            for col in run.results]
