"""A JSON schema pasted or uploaded by a person, read into a ResponseFormat with one-sentence errors."""

from __future__ import annotations

import json

from services.errors import BadRequest
from services.types import SCHEMA_MAX_BYTES, ResponseFormat

# pasted text may be indented generously: the compact schema is still held to SCHEMA_MAX_BYTES
MAX_SCHEMA_TEXT_BYTES = 4 * SCHEMA_MAX_BYTES
# the keys of OpenAI's (and GitHub's jsonSchema) wrapper around a schema: {"name", "schema", "strict"}
_WRAPPER_KEYS = frozenset({"name", "schema", "strict", "description"})


def _unwrapped(value: dict, what: str) -> tuple[dict, str]:
    """The schema and its name from a pasted wrapper (OpenAI's response_format or its json_schema part).

    Both are valid JSON Schemas by themselves (unknown keywords are allowed), so taken as they are they
    would constrain nothing; a person who pasted one meant the schema inside.
    """
    if value.get("type") == "json_schema" and "json_schema" in value:
        value = value["json_schema"]
        if not isinstance(value, dict) or "schema" not in value:
            raise BadRequest(f"{what} looks like OpenAI's response_format, but its json_schema holds no schema; "
                             "paste the schema itself.")
    if "schema" in value and set(value) <= _WRAPPER_KEYS:
        if not isinstance(value["schema"], dict):
            raise BadRequest(f"{what} wraps its schema in {{\"name\", \"schema\"}}, but that schema is not a "
                             "JSON object such as {\"type\": \"object\"}.")
        name = value.get("name")
        return value["schema"], name if isinstance(name, str) else ""
    return value, ""


def parse_schema_text(text: str | bytes, what: str = "The schema") -> ResponseFormat:
    """A json_schema ResponseFormat from JSON text; BadRequest naming the problem otherwise."""
    if isinstance(text, bytes):
        if len(text) > MAX_SCHEMA_TEXT_BYTES:
            raise BadRequest(f"{what} is larger than {MAX_SCHEMA_TEXT_BYTES // 1024} KiB; shorten it.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest(f"{what} is not UTF-8 text; save it as a .json file in UTF-8.") from None
    if not isinstance(text, str):
        raise BadRequest(f"{what} must be JSON text.")
    if not text.strip():
        raise BadRequest(f"{what} is empty; paste a JSON schema such as "
                         '{"type": "object", "properties": {"city": {"type": "string"}}}.')
    if len(text.encode("utf-8")) > MAX_SCHEMA_TEXT_BYTES:
        raise BadRequest(f"{what} is larger than {MAX_SCHEMA_TEXT_BYTES // 1024} KiB; shorten it.")
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadRequest(f"{what} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno}).") from None
    except RecursionError:
        raise BadRequest(f"{what} nests too deeply to read; flatten it.") from None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise BadRequest(f"{what} holds a number too long to read; shorten it.") from None
    if not isinstance(schema, dict):
        raise BadRequest(f"{what} must be a JSON object such as {{\"type\": \"object\"}}, "
                         f"not {type(schema).__name__ if schema is not None else 'null'}.")
    schema, name = _unwrapped(schema, what)
    return ResponseFormat("json_schema", schema, name=name)


def response_format_from(kind: str | None, schema_text: str | bytes | None = None) -> ResponseFormat:
    """The pair a form or a command line holds (a kind, and schema text for json_schema)."""
    kind = (kind or "text").strip().lower().replace("-", "_")
    if kind == "json_schema":
        if schema_text is None:
            raise BadRequest("response format json_schema needs a schema: paste one or give --schema FILE.")
        return parse_schema_text(schema_text)
    return ResponseFormat(kind)
