"""Export a stored conversation as JSON (lossless, re-importable) or Markdown; import JSON as a new one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import time

from services import json_input
from services.errors import BadRequest, MediaError
from services.json_input import METRICS, PARAMS, number, text
from services.media.images import IMAGE_KINDS, MAX_IMAGE_BYTES, image_size, sniff
from services.conversations.branches import path
from services.conversations.rows import StoredMessage
from services.conversations.store import Store
from services.types import ROLES, GenerationParams

FORMAT = "phi-playground-conversation"
EXPORT_VERSION = 1
WHAT = "conversation export"
NOTHING = "Nothing was imported."
# bounds on what an import may hold (the JSON parse itself is bounded in services/json_input.py)
MAX_IMPORT_BYTES = 200 * 1024 * 1024
MAX_IMPORT_MESSAGES = 10_000
# an answer can be long (32768 tokens), a question is capped lower by services.chat.MAX_PROMPT_CHARS
MAX_IMPORT_MESSAGE_CHARS = 500_000
MAX_IMPORT_ATTACHMENTS = 1_000
MAX_ATTACHMENTS_PER_MESSAGE = 64
# times are seconds since 1970; beyond this (year 5138) they are not times a page can show
MAX_TIME = 1e11

_TIME = number(minimum=0, maximum=MAX_TIME)
_ID = number(minimum=1, integer=True, nullable=False)
# the export format, declared: every field's type and bound (semantic checks follow in validate)
SCHEMA = {
    "type": "object",
    "required": ["format", "schema_version", "conversation", "messages"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "schema_version": number(minimum=1, maximum=EXPORT_VERSION, integer=True, nullable=False),
        "exported_at": _TIME,
        "conversation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "title": text(1000, nullable=True), "created": _TIME, "updated": _TIME,
                "target": text(300, nullable=True), "params": {**PARAMS, "type": ["object", "null"]},
                "system": text(MAX_IMPORT_MESSAGE_CHARS, nullable=True),
                # absent in files from before vision conversations were stored: those are chats
                "kind": {"enum": ["chat", "vision", None]},
            },
        },
        "active": {**_ID, "type": ["integer", "null"]},
        "messages": {
            "type": "array",
            "maxItems": MAX_IMPORT_MESSAGES,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID, "parent": {**_ID, "type": ["integer", "null"]},
                    "role": {"enum": list(ROLES)},
                    "content": text(MAX_IMPORT_MESSAGE_CHARS),
                    "active": {"type": "boolean"},
                    "target": text(300, nullable=True),
                    "params": {**PARAMS, "type": ["object", "null"]},
                    "metrics": {**METRICS, "type": ["object", "null"]},
                    "finish_reason": text(40, nullable=True),
                    "notice": text(10_000, nullable=True),
                    "error": text(10_000, nullable=True),
                    "created": _TIME, "updated": _TIME,
                    "attachments": {
                        "type": ["array", "null"], "maxItems": MAX_ATTACHMENTS_PER_MESSAGE,
                        "items": {
                            "type": "object", "required": ["sha256"], "additionalProperties": False,
                            "properties": {
                                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                           "x-expect": "a sha256 (64 hex digits)"},
                                "mime": text(100, nullable=True), "label": text(500, nullable=True),
                                "timestamp_s": number(minimum=0, maximum=MAX_TIME),
                            },
                        },
                    },
                },
            },
        },
        "attachments": {
            "type": ["object", "null"],
            "maxProperties": MAX_IMPORT_ATTACHMENTS,
            "propertyNames": {"pattern": "^[0-9a-f]{64}$", "x-expect": "a sha256 (64 hex digits)"},
            "additionalProperties": {
                "type": "object", "required": ["mime", "data_base64"], "additionalProperties": False,
                "properties": {
                    "mime": text(100), "size": number(minimum=0, integer=True),
                    # base64 of an image under the image cap: 4 characters per 3 bytes
                    "data_base64": text(MAX_IMAGE_BYTES * 4 // 3 + 4),
                },
            },
        },
    },
}


def _ordered(messages: list[StoredMessage], active_leaf: int | None) -> tuple[list[StoredMessage], set[int]]:
    """The active branch first (so a plain reader sees the conversation), then the alternatives, parents first."""
    by_id = {m.id: m for m in messages}
    branch, node = [], active_leaf
    while node is not None and node in by_id:
        branch.append(node)
        node = by_id[node].parent_id
    on_branch = set(branch)
    order = branch[::-1] + [m.id for m in messages if m.id not in on_branch]
    return [by_id[i] for i in order], on_branch


def export_json(store: Store, conv_id: str) -> dict:
    """The whole conversation, every branch, attachments as base64; import_json reads it back."""
    conv = store.require_conversation(conv_id)
    messages, on_branch = _ordered(store.messages(conv_id), conv.active_leaf)
    number = {m.id: n for n, m in enumerate(messages, 1)}
    blobs = {}
    out = []
    for m in messages:
        for a in m.attachments:
            if a.sha256 not in blobs:
                data = store.attachment(a.sha256)
                blobs[a.sha256] = {"mime": a.mime, "size": len(data),
                                   "data_base64": base64.b64encode(data).decode("ascii")}
        out.append({
            "id": number[m.id], "parent": number.get(m.parent_id), "role": m.role, "content": m.content,
            "active": m.id in on_branch, "target": m.target, "params": m.params.to_dict() if m.params else None,
            "metrics": m.metrics.to_dict() if m.metrics else None,
            "finish_reason": m.finish_reason, "notice": m.notice, "error": m.error,
            "created": m.created, "updated": m.updated,
            "attachments": [{"sha256": a.sha256, "mime": a.mime, "label": a.label, "timestamp_s": a.timestamp_s}
                            for a in m.attachments],
        })
    return {
        "format": FORMAT,
        "schema_version": EXPORT_VERSION,
        "exported_at": time.time(),
        "conversation": {"title": conv.title, "created": conv.created, "updated": conv.updated, "target": conv.target,
                         "params": conv.params.to_dict() if conv.params else {}, "system": conv.system,
                         "kind": conv.kind},
        "active": number.get(conv.active_leaf),
        "messages": out,
        "attachments": blobs,
    }


def export_json_text(store: Store, conv_id: str) -> str:
    """export_json as indented UTF-8 text."""
    return json.dumps(export_json(store, conv_id), ensure_ascii=False, indent=2)


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def export_markdown(store: Store, conv_id: str) -> str:
    """The visible branch as readable Markdown, attachments listed by name, type, size and hash."""
    conv = store.require_conversation(conv_id)
    turns = path(store, conv_id)
    others = len(store.messages(conv_id)) - len(turns)
    lines = [f"# {conv.title or 'Untitled conversation'}", ""]
    meta = [f"exported {time.strftime('%Y-%m-%d %H:%M', time.localtime())}", f"{len(turns)} messages"]
    if conv.target:
        meta.insert(0, f"target `{conv.target}`")
    if others:
        meta.append(f"{others} message(s) on other branches are in the JSON export only")
    lines += ["*" + " · ".join(meta) + "*", ""]
    if conv.system.strip():
        lines += ["**System prompt:**", "", *("> " + s for s in conv.system.splitlines()), ""]
    for turn in turns:
        m = turn.message
        head = {"user": "🧑 User", "assistant": "🤖 Assistant", "system": "⚙️ System"}[m.role]
        if m.role == "assistant" and m.target:
            head += f" · `{m.target}`"
        if len(turn.siblings) > 1:
            head += f" · version {turn.index + 1} of {len(turn.siblings)}"
        lines += [f"## {head}", "", m.content or "*(no text)*", ""]
        if m.attachments:
            lines.append("Attachments:")
            lines += [f"- {a.label or 'unnamed'} ({a.mime}, {_size(a.size)}, sha256 {a.sha256[:12]}…)"
                      for a in m.attachments]
            lines.append("")
        if m.stopped_early:
            lines += [f"*(answer {m.finish_reason}: it stopped before the end)*", ""]
        if m.error.strip():
            lines += [f"*(error: {m.error})*", ""]
        if m.role == "assistant" and m.metrics:
            x = m.metrics
            lines += [f"*TTFT {x.ttft_s} s · {x.decode_tokens_per_s} tok/s · "
                      f"{x.prompt_tokens} in / {x.completion_tokens} out*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise BadRequest(message, hint=NOTHING)


def _params(value, where: str):
    if value is None:
        return None
    try:
        return GenerationParams.from_dict(value).to_dict()
    except BadRequest as exc:
        raise BadRequest(f"{where}: {exc.message}", hint=NOTHING) from None


def _check_image(at: str, mime: str, payload: bytes) -> None:
    """An attachment must be a readable image by its content, of the type it claims, under the pixel cap."""
    kind = sniff(payload)
    _need(kind in IMAGE_KINDS and mime == f"image/{kind}",
          f"{at}: not an image of type {mime} by its content.")
    try:
        image_size(payload)
        from PIL import Image

        # decode every pixel once: a damaged image is refused here, not when a page shows it
        with Image.open(io.BytesIO(payload)) as img:
            img.load()
    except MediaError as exc:
        raise BadRequest(f"{at}: {exc.message}", hint=NOTHING) from None
    except (OSError, ValueError, SyntaxError):
        raise BadRequest(f"{at}: the image is damaged and cannot be read.",
                         hint=NOTHING) from None


def validate(data) -> tuple[dict, list[dict], dict[str, tuple[str, bytes]], int | None]:
    """Check an export completely before anything is written; BadRequest names the place that is wrong."""
    _need(isinstance(data, dict), "This file is not a conversation export: it holds a JSON "
                                  f"{type(data).__name__}, not an object.")
    _need(data.get("format") == FORMAT, "This JSON file is not a Phi Playground conversation export "
                                        f"(expected \"format\": \"{FORMAT}\").")
    version = data.get("schema_version")
    _need(isinstance(version, int) and not isinstance(version, bool) and version >= 1,
          "The export has no valid schema_version.")
    _need(version <= EXPORT_VERSION, f"This export was made by a newer Phi Playground (schema_version {version}; "
                                     f"this version reads up to {EXPORT_VERSION}). Upgrade to import it.")
    json_input.check(data, SCHEMA, WHAT, NOTHING)
    conv = data["conversation"]
    header = {"title": (conv.get("title") or "").strip()[:200], "created": conv.get("created"),
              "updated": conv.get("updated"), "target": conv.get("target"),
              "params": _params(conv.get("params") or {}, "conversation.params") or {},
              "system": conv.get("system") or "", "kind": conv.get("kind") or "chat"}

    blobs: dict[str, tuple[str, bytes]] = {}
    for sha, a in (data.get("attachments") or {}).items():
        at = json_input.where(["attachments", sha])
        try:
            payload = base64.b64decode(a["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{at}.data_base64 is not valid base64.", hint=NOTHING) from None
        _need(hashlib.sha256(payload).hexdigest() == sha, f"{at}: its bytes do not match its sha256.")
        _check_image(at, a["mime"], payload)
        blobs[sha] = (a["mime"], payload)

    seen: set[int] = set()
    out = []
    for n, m in enumerate(data["messages"]):
        where = f"messages[{n}]"
        mid = m.get("id", n + 1)
        parent = m.get("parent", out[-1]["id"] if out and "id" not in m else None)
        _need(mid not in seen, f"{where}.id {mid} is used by an earlier message.")
        _need(parent is None or parent in seen, f"{where}.parent {parent} is not an earlier message.")
        attachments = m.get("attachments") or []
        for k, a in enumerate(attachments):
            _need(a["sha256"] in blobs, f"{where}.attachments[{k}] refers to bytes that are not in the file.")
        seen.add(mid)
        out.append({**m, "id": mid, "parent": parent, "params": _params(m.get("params"), f"{where}.params"),
                    "attachments": [{**a, "mime": blobs[a["sha256"]][0]} for a in attachments]})
    active = data.get("active", out[-1]["id"] if out else None)
    _need(active is None or active in seen, "\"active\" does not name a message in the file.")
    return header, out, blobs, active


def _creation_order(messages: list[dict]) -> list[dict]:
    """Oldest first, so alternatives keep their "version n / N" after import (the export lists the active branch first)."""
    ordered = sorted(messages, key=lambda m: m.get("created") or 0)  # stable: ties keep the file's order
    seen: set[int] = set()
    for m in ordered:
        if m["parent"] is not None and m["parent"] not in seen:
            return messages  # times that put a reply before its question: keep the file's (valid) order
        seen.add(m["id"])
    return ordered


def import_json(store: Store, source: bytes | str | dict) -> str:
    """Validate an export and store it as a new conversation (never overwriting one); return the new id."""
    if isinstance(source, (bytes, bytearray, str)):
        source = json_input.parse(source, max_bytes=MAX_IMPORT_BYTES, what=WHAT, hint=NOTHING)
    header, messages, blobs, active = validate(source)
    return store.insert_tree(header, _creation_order(messages), blobs, active)
