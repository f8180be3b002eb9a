"""A response format in the shapes servers take: OpenAI's response_format and Ollama's format."""

from __future__ import annotations

from services.types import ResponseFormat

# OpenAI: json_schema.name is a-z, A-Z, 0-9, _ and -, at most 64 characters
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def schema_name(fmt: ResponseFormat) -> str:
    """The format's own name (a prompt file's jsonSchema.name), else the schema's title, in OpenAI's alphabet."""
    title = fmt.schema.get("title") if isinstance(fmt.schema.get("title"), str) else ""
    name = "".join(c if c in _NAME_OK else "_" for c in (fmt.name or title).strip())[:64].strip("_")
    return name or "response"


def _strict_ok(schema: dict) -> bool:
    """True when OpenAI's strict mode accepts the schema: every object closed, every property required."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                if node.get("additionalProperties") is not False or set(node.get("required") or ()) != set(props):
                    return False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def openai_response_format(fmt: ResponseFormat) -> dict | None:
    """The response_format argument of chat.completions.create; None for free text (not sent)."""
    if fmt.kind == "json_object":
        return {"type": "json_object"}
    if fmt.kind == "json_schema":
        inner = {"name": schema_name(fmt), "schema": fmt.schema}
        if fmt.strict is not None:  # a prompt file's strict as written; a file that wrote none sends none
            inner["strict"] = _strict_ok(fmt.schema) if fmt.strict == "auto" else fmt.strict
        return {"type": "json_schema", "json_schema": inner}
    return None


def ollama_format(fmt: ResponseFormat) -> str | dict | None:
    """Ollama's format: "json" for any JSON, the schema itself for structured outputs; None for text."""
    if fmt.kind == "json_object":
        return "json"
    if fmt.kind == "json_schema":
        return fmt.schema
    return None
