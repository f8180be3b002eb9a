"""Export a stored conversation as JSON (lossless, re-importable) or Markdown; import JSON as a new one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import time

from services.errors import BadRequest, MediaError
from services.media import IMAGE_KINDS, image_size, sniff
from services.store import Store
from services.types import ROLES, GenerationParams

FORMAT = "phi-playground-conversation"
EXPORT_VERSION = 1
MAX_IMPORT_BYTES = 200 * 1024 * 1024


def _ordered(messages: list[dict], active_leaf: int | None) -> tuple[list[dict], set[int]]:
    """The active branch first (so a plain reader sees the conversation), then the alternatives, parents first."""
    by_id = {m["id"]: m for m in messages}
    branch, node = [], active_leaf
    while node is not None and node in by_id:
        branch.append(node)
        node = by_id[node]["parent_id"]
    on_branch = set(branch)
    order = branch[::-1] + [m["id"] for m in messages if m["id"] not in on_branch]
    return [by_id[i] for i in order], on_branch


def export_json(store: Store, conv_id: str) -> dict:
    """The whole conversation, every branch, attachments as base64; import_json reads it back."""
    conv = store.require_conversation(conv_id)
    messages, on_branch = _ordered(store.messages(conv_id), conv["active_leaf"])
    number = {m["id"]: n for n, m in enumerate(messages, 1)}
    blobs = {}
    out = []
    for m in messages:
        for a in m["attachments"]:
            if a["sha256"] not in blobs:
                data = store.attachment(a["sha256"])
                blobs[a["sha256"]] = {"mime": a["mime"], "size": len(data),
                                      "data_base64": base64.b64encode(data).decode("ascii")}
        out.append({
            "id": number[m["id"]], "parent": number.get(m["parent_id"]), "role": m["role"], "content": m["content"],
            "active": m["id"] in on_branch, "target": m["target"], "params": m["params"], "metrics": m["metrics"],
            "finish_reason": m["finish_reason"], "notice": m["notice"], "error": m["error"],
            "created": m["created"], "updated": m["updated"],
            "attachments": [{k: a[k] for k in ("sha256", "mime", "label", "timestamp_s")} for a in m["attachments"]],
        })
    return {
        "format": FORMAT,
        "schema_version": EXPORT_VERSION,
        "exported_at": time.time(),
        "conversation": {k: conv[k] for k in ("title", "created", "updated", "target", "params", "system")},
        "active": number.get(conv["active_leaf"]),
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
    from services.conversations import path

    conv = store.require_conversation(conv_id)
    turns = path(store, conv_id)
    others = len(store.messages(conv_id)) - len(turns)
    lines = [f"# {conv['title'] or 'Untitled conversation'}", ""]
    meta = [f"exported {time.strftime('%Y-%m-%d %H:%M', time.localtime())}", f"{len(turns)} messages"]
    if conv["target"]:
        meta.insert(0, f"target `{conv['target']}`")
    if others:
        meta.append(f"{others} message(s) on other branches are in the JSON export only")
    lines += ["*" + " · ".join(meta) + "*", ""]
    if conv["system"].strip():
        lines += ["**System prompt:**", "", *("> " + s for s in conv["system"].splitlines()), ""]
    for m in turns:
        head = {"user": "🧑 User", "assistant": "🤖 Assistant", "system": "⚙️ System"}[m["role"]]
        if m["role"] == "assistant" and m["target"]:
            head += f" · `{m['target']}`"
        if len(m["siblings"]) > 1:
            head += f" · version {m['index'] + 1} of {len(m['siblings'])}"
        lines += [f"## {head}", "", m["content"] or "*(no text)*", ""]
        if m["attachments"]:
            lines.append("Attachments:")
            lines += [f"- {a['label'] or 'unnamed'} ({a['mime']}, {_size(a['size'])}, sha256 {a['sha256'][:12]}…)"
                      for a in m["attachments"]]
            lines.append("")
        if m["finish_reason"] in ("incomplete", "cancelled"):
            lines += [f"*(answer {m['finish_reason']}: it stopped before the end)*", ""]
        if m["error"].strip():
            lines += [f"*(error: {m['error']})*", ""]
        if m["role"] == "assistant" and m["metrics"]:
            x = m["metrics"]
            lines += [f"*TTFT {x.get('ttft_s')} s · {x.get('decode_tokens_per_s')} tok/s · "
                      f"{x.get('prompt_tokens')} in / {x.get('completion_tokens')} out*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise BadRequest(message, hint="Nothing was imported.")


def _number(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _params(value, where: str):
    if value is None:
        return None
    _need(isinstance(value, dict), f"{where}: params must be an object.")
    try:
        return GenerationParams.from_dict(value).to_dict()
    except BadRequest as exc:
        raise BadRequest(f"{where}: {exc.message}", hint="Nothing was imported.") from None


def _check_image(sha: str, mime: str, payload: bytes) -> None:
    """An attachment must be a readable image by its content, of the type it claims, under the pixel cap."""
    kind = sniff(payload)
    _need(kind in IMAGE_KINDS and mime == f"image/{kind}",
          f"attachment {sha[:12]}: not an image of type {mime} by its content.")
    try:
        image_size(payload)
        from PIL import Image

        # decode every pixel once: a damaged image is refused here, not when a page shows it
        with Image.open(io.BytesIO(payload)) as img:
            img.load()
    except MediaError as exc:
        raise BadRequest(f"attachment {sha[:12]}: {exc.message}", hint="Nothing was imported.") from None
    except (OSError, ValueError, SyntaxError):
        raise BadRequest(f"attachment {sha[:12]}: the image is damaged and cannot be read.",
                         hint="Nothing was imported.") from None


def validate(data) -> tuple[dict, list[dict], dict[str, tuple[str, bytes]], int | None]:
    """Check an export completely before anything is written; BadRequest says what is wrong."""
    _need(isinstance(data, dict), "This file is not a conversation export: it holds a JSON "
                                  f"{type(data).__name__}, not an object.")
    _need(data.get("format") == FORMAT, "This JSON file is not a Phi Playground conversation export "
                                        f"(expected \"format\": \"{FORMAT}\").")
    version = data.get("schema_version")
    _need(isinstance(version, int) and not isinstance(version, bool) and version >= 1,
          "The export has no valid schema_version.")
    _need(version <= EXPORT_VERSION, f"This export was made by a newer Phi Playground (schema {version}; "
                                     f"this version reads up to {EXPORT_VERSION}). Upgrade to import it.")
    conv = data.get("conversation")
    _need(isinstance(conv, dict), "The export has no \"conversation\" object.")
    _need(isinstance(conv.get("title", ""), str), "conversation.title must be text.")
    _need(isinstance(conv.get("system") or "", str), "conversation.system must be text.")
    _need(conv.get("target") is None or isinstance(conv["target"], str), "conversation.target must be text.")
    _need(_number(conv.get("created")) and _number(conv.get("updated")), "conversation times must be numbers.")
    header = {"title": (conv.get("title") or "").strip()[:200], "created": conv.get("created"),
              "updated": conv.get("updated"), "target": conv.get("target"),
              "params": _params(conv.get("params") or {}, "conversation") or {}, "system": conv.get("system") or ""}

    blobs: dict[str, tuple[str, bytes]] = {}
    raw = data.get("attachments") or {}
    _need(isinstance(raw, dict), "\"attachments\" must be an object keyed by sha256.")
    for sha, a in raw.items():
        _need(isinstance(a, dict) and isinstance(a.get("data_base64"), str) and isinstance(a.get("mime"), str),
              f"attachment {sha[:12]}: needs mime and data_base64.")
        try:
            payload = base64.b64decode(a["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"attachment {sha[:12]}: data_base64 is not valid base64.",
                             hint="Nothing was imported.") from None
        _need(hashlib.sha256(payload).hexdigest() == sha, f"attachment {sha[:12]}: its bytes do not match its sha256.")
        _check_image(sha, a["mime"], payload)
        blobs[sha] = (a["mime"], payload)

    messages = data.get("messages")
    _need(isinstance(messages, list), "The export has no \"messages\" list.")
    seen: set[int] = set()
    out = []
    for n, m in enumerate(messages, 1):
        where = f"message {n}"
        _need(isinstance(m, dict), f"{where} is not an object.")
        _need(m.get("role") in ROLES, f"{where}: role must be one of {', '.join(ROLES)}, not {m.get('role')!r}.")
        _need(isinstance(m.get("content"), str), f"{where}: content must be text.")
        mid = m.get("id", n)
        parent = m.get("parent", out[-1]["id"] if out and "id" not in m else None)
        _need(isinstance(mid, int) and not isinstance(mid, bool) and mid not in seen, f"{where}: id must be a new number.")
        _need(parent is None or parent in seen, f"{where}: parent {parent!r} is not an earlier message.")
        _need(m.get("metrics") is None or isinstance(m["metrics"], dict), f"{where}: metrics must be an object.")
        _need(m.get("finish_reason") is None or isinstance(m["finish_reason"], str), f"{where}: finish_reason must be text.")
        _need(m.get("target") is None or isinstance(m["target"], str), f"{where}: target must be text.")
        for key in ("notice", "error"):
            _need(isinstance(m.get(key) or "", str), f"{where}: {key} must be text.")
        _need(_number(m.get("created")) and _number(m.get("updated")), f"{where}: times must be numbers.")
        attachments = m.get("attachments") or []
        _need(isinstance(attachments, list), f"{where}: attachments must be a list.")
        for a in attachments:
            _need(isinstance(a, dict) and a.get("sha256") in blobs,
                  f"{where}: an attachment refers to bytes that are not in the file.")
            _need(_number(a.get("timestamp_s")) and isinstance(a.get("label") or "", str),
                  f"{where}: attachment label/timestamp_s have the wrong type.")
        seen.add(mid)
        out.append({**m, "id": mid, "parent": parent, "params": _params(m.get("params"), where),
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
    if isinstance(source, (bytes, str)):
        _need(len(source) <= MAX_IMPORT_BYTES, f"The file is larger than {_size(MAX_IMPORT_BYTES)}.")
        try:
            text = source.decode("utf-8-sig") if isinstance(source, bytes) else source
        except UnicodeDecodeError:
            raise BadRequest("The file is not UTF-8 text, so it is not a JSON export.", hint="Nothing was imported.") from None
        try:
            source = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"The file is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
                             hint="Nothing was imported.") from None
    header, messages, blobs, active = validate(source)
    return store.insert_tree(header, _creation_order(messages), blobs, active)
