"""Values written into generated scripts as Python literals, never as pasted text."""

from __future__ import annotations

import json
import pprint

from services.types import ImagePart

# a literal longer than this is wrapped by pprint over several lines
WIDTH = 100
# file name extensions for the image types the app accepts
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/webp": "webp",
              "image/gif": "gif", "image/bmp": "bmp"}


def literal(value) -> str:
    """A Python expression for plain data (str, numbers, bool, None, lists, tuples, dicts).

    repr() escapes quotes, backslashes, newlines and unprintable characters, so text a person or a
    model wrote can never end the literal and become code.
    """
    _check_plain(value)
    return pprint.pformat(value, width=WIDTH, sort_dicts=False)


def _check_plain(value) -> None:
    """Refuse anything whose repr() might not be a literal (objects, sets, bytes are never written)."""
    stack = [value]
    while stack:  # bounded by the size of the value itself
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif not (v is None or isinstance(v, (str, bool, int, float))):
            raise TypeError(f"not plain data: {type(v).__name__}")


def json_literal(value) -> str:
    """JSON text as a Python string literal (for APIs that take a schema as text)."""
    return literal(json.dumps(value))  # as the app writes it: same text, same grammar


def attachment_name(part: ImagePart, number: int) -> str:
    """The file name an image gets next to the script: image_1.png, image_2.jpg, ..."""
    ext = EXTENSIONS.get((part.mime or "").lower(), "bin")
    return f"image_{number}.{ext}"


def attachments(messages) -> dict[int, str]:
    """id() of each ImagePart in the messages -> its file name, numbered in order."""
    out: dict[int, str] = {}
    for m in messages:
        for part in m.images:
            if id(part) not in out:
                out[id(part)] = attachment_name(part, len(out) + 1)
    return out


def with_placeholders(value, replacements: dict[str, str]):
    """Walk plain data; in every string, cut out each key of `replacements` (a data URI) and note
    where it was, so the script can rebuild it from a file. Returns an expression tree for `expr`."""
    if isinstance(value, dict):
        return {k: with_placeholders(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [with_placeholders(v, replacements) for v in value]
    if isinstance(value, str) and replacements:
        return _split(value, replacements)
    return value


class Concat:
    """A string built at run time: literal pieces and calls that read attachment files."""

    def __init__(self, pieces: list[tuple[str, str]]):
        # ("text", s) or ("call", expression)
        self.pieces = pieces


def _split(text: str, replacements: dict[str, str]):
    pieces: list[tuple[str, str]] = []
    rest = text
    while rest:
        hits = [(rest.find(k), k) for k in replacements if k and rest.find(k) >= 0]
        if not hits:
            pieces.append(("text", rest))
            break
        at, key = min(hits)
        if at:
            pieces.append(("text", rest[:at]))
        pieces.append(("call", replacements[key]))
        rest = rest[at + len(key):]
    if len(pieces) == 1 and pieces[0][0] == "text":
        return text
    return Concat(pieces)


def expr(value, indent: int = 0) -> str:
    """Python source for plain data that may hold Concat strings (one element per line)."""
    if not _has_concat(value):
        text = literal(value)
        return text.replace("\n", "\n" + " " * indent) if indent else text
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{inner}{literal(k)}: {expr(v, indent + 4)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        items = [f"{inner}{expr(v, indent + 4)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    parts = [literal(s) if kind == "text" else s for kind, s in value.pieces]
    return " + ".join(parts)


def _has_concat(value) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Concat):
            return True
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False
