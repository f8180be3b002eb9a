"""What goes into and comes out of the conversation store: frozen typed rows; dicts only at the JSON edges."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from services.errors import BadRequest
from services.types import ROLES, GenerationParams, ImagePart, Metrics

# an answer that ended before its end: still streaming when the app died, or stopped by the user
STOPPED_EARLY = ("incomplete", "cancelled")


@dataclass(frozen=True)
class TurnSettings:
    """What a turn is answered with: the target (`backend:model`), sampling parameters and system prompt."""

    target: str
    params: GenerationParams = field(default_factory=GenerationParams)
    system: str = ""

    def __post_init__(self):
        if not isinstance(self.params, GenerationParams):
            raise BadRequest("The parameters are not valid: fix them (the Parameters panel says which) first.")
        object.__setattr__(self, "system", self.system or "")


@dataclass(frozen=True)
class Attachment:
    """An image or video frame stored with a message; its bytes stay in the store (Store.attachment)."""

    sha256: str
    mime: str
    label: str = ""
    timestamp_s: float | None = None
    size: int = 0


@dataclass(frozen=True)
class NewMessage:
    """A message to store: what it says and, for an answer, how it was produced."""

    role: str
    content: str
    images: tuple[ImagePart, ...] = ()
    notice: str = ""
    error: str = ""
    target: str | None = None
    params: GenerationParams | None = None
    metrics: Metrics | None = None
    finish_reason: str | None = None
    # seconds since 1970; None: now
    created: float | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise BadRequest(f"role must be system, user or assistant, not {self.role!r}.")
        if not isinstance(self.content, str):
            raise BadRequest("A message's content must be text.")
        object.__setattr__(self, "images", tuple(self.images))


@dataclass(frozen=True)
class StoredMessage:
    """One stored message (any branch) with its attachments, as the store returns it."""

    id: int
    conversation_id: str
    parent_id: int | None
    role: str
    content: str
    target: str | None = None
    # None: not recorded (questions), or stored by a version whose values this one cannot read
    params: GenerationParams | None = None
    metrics: Metrics | None = None
    finish_reason: str | None = None
    notice: str = ""
    error: str = ""
    created: float = 0.0
    updated: float = 0.0
    attachments: tuple[Attachment, ...] = ()

    @property
    def stopped_early(self) -> bool:
        """True for an answer that ended before the model did (stopped, or cut off by a crash)."""
        return self.finish_reason in STOPPED_EARLY


@dataclass(frozen=True)
class Conversation:
    """A conversation's header (its messages come from Store.messages or branches.path)."""

    id: str
    title: str
    created: float
    updated: float
    # the page that shows it: one of store.KINDS
    kind: str = "chat"
    # the settings its last answer used (None until it has some)
    target: str | None = None
    params: GenerationParams | None = None
    system: str = ""
    active_leaf: int | None = None
    # only on rows from list_conversations and search
    n_messages: int | None = None


@dataclass(frozen=True)
class Turn:
    """A message on the visible branch, with the alternatives at its place (for "version 2 / 3")."""

    message: StoredMessage
    # ids of the messages sharing its parent, oldest first; the message is siblings[index]
    siblings: tuple[int, ...]
    index: int


# ----- from and to the database's columns (JSON text for params and metrics) ----------------------


def params_from_json(text: str | None) -> GenerationParams | None:
    """Stored parameters, or None when none were stored or they no longer validate."""
    data = json.loads(text) if text else None
    if not data:
        return None
    try:
        return GenerationParams.from_dict(data)
    except BadRequest:
        return None


def params_to_json(params: GenerationParams | None) -> str | None:
    """The column text for parameters (NULL when there are none)."""
    return json.dumps(params.to_dict()) if params is not None else None


def metrics_from_json(text: str | None) -> Metrics | None:
    """Stored metrics, or None when the answer has none."""
    data = json.loads(text) if text else None
    return Metrics.from_dict(data) if data else None


def metrics_to_json(metrics: Metrics | None) -> str | None:
    """The column text for metrics (NULL when there are none)."""
    return json.dumps(metrics.to_dict()) if metrics is not None else None


def conversation_from_row(row) -> Conversation:
    """A Conversation from a `conversations` row (with n_messages when the query counted them)."""
    keys = row.keys()
    return Conversation(
        id=row["id"], title=row["title"], created=row["created"], updated=row["updated"], kind=row["kind"],
        target=row["target"], params=params_from_json(row["params"]), system=row["system"] or "",
        active_leaf=row["active_leaf"], n_messages=row["n_messages"] if "n_messages" in keys else None)


def message_from_row(row, attachments: tuple[Attachment, ...] = ()) -> StoredMessage:
    """A StoredMessage from a `messages` row and its attachments."""
    return StoredMessage(
        id=row["id"], conversation_id=row["conversation_id"], parent_id=row["parent_id"], role=row["role"],
        content=row["content"], target=row["target"], params=params_from_json(row["params"]),
        metrics=metrics_from_json(row["metrics"]), finish_reason=row["finish_reason"], notice=row["notice"] or "",
        error=row["error"] or "", created=row["created"], updated=row["updated"], attachments=attachments)


def attachment_from_row(row) -> Attachment:
    """An Attachment from a message_attachments row joined with its blob's size."""
    return Attachment(sha256=row["sha256"], mime=row["mime"], label=row["label"] or "",
                      timestamp_s=row["timestamp_s"], size=row["size"])
