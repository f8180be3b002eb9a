"""Plain `{{key}}` templating (no logic), as GitHub's prompt files use it, with missing keys refused."""

from __future__ import annotations

import json
import re

from services.errors import BadRequest

# `{{ name }}`: a name of letters, digits, '_', '-' or '.'; the spaces are optional. Linear: each
# part is a single class, and neighbouring classes do not overlap.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*\}\}")


def placeholders(text: str) -> list[str]:
    """The placeholder names in a template, each once, in order."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def as_text(value) -> str:
    """How a row value reads inside a prompt: text as is, numbers plainly, lists and maps as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def render(template: str, values: dict, where: str = "the template") -> str:
    """Replace every `{{key}}`; a key the values lack is one sentence naming the place."""

    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            have = ", ".join(sorted(values)) or "none"
            raise BadRequest(f"{where} uses {{{{{key}}}}} but there is no value for it (values here: {have}).")
        return as_text(values[key])

    return PLACEHOLDER.sub(sub, template or "")


def missing(template: str, keys) -> list[str]:
    """Placeholders in a template that the given keys do not provide."""
    have = set(keys)
    return [k for k in placeholders(template) if k not in have]
