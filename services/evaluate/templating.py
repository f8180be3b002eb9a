"""`{{key}}` templating as GitHub's prompt files use it: exact keys replaced, anything else left as written.

gh models eval replaces the text `{{key}}` for every key a test row has; a placeholder no row fills,
and `{{ key }}` with spaces, stay in the text as written. Here the replacement is one left-to-right
pass (a value that itself holds `{{other}}` is never replaced again), linear in the text: each
`{{` is matched with the nearest `}}` after it, found once and reused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

# a `{{...}}` whose inside is longer than this, or holds a line break or a brace, is not a placeholder
MAX_NAME_CHARS = 100


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


def _spans(template: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, inside) of every `{{inside}}`, each `{{` paired with the nearest `}}` after it."""
    i, close = 0, -1
    while True:
        i = template.find("{{", i)
        if i < 0:
            return
        if close < i + 2:
            close = template.find("}}", i + 2)
            if close < 0:
                return
        yield i, close + 2, template[i + 2: close]
        i += 1


def _is_name(inside: str) -> bool:
    return 0 < len(inside) <= MAX_NAME_CHARS and not any(c in inside for c in "{}\n")


def render(template: str, values: dict) -> str:
    """Replace each `{{key}}` whose key the values have; every other `{{...}}` stays as written."""
    template = template or ""
    out, pos = [], 0
    for start, end, inside in _spans(template):
        if start < pos or inside not in values:
            continue
        out.append(template[pos:start])
        out.append(as_text(values[inside]))
        pos = end
    out.append(template[pos:])
    return "".join(out)


def placeholders(text: str) -> list[str]:
    """The placeholder names in a template, each once, in order."""
    return list(dict.fromkeys(inside for _, _, inside in _spans(text or "") if _is_name(inside)))


def missing(template: str, keys) -> list[str]:
    """Placeholders in a template that the given keys do not fill (they stay as written)."""
    have = set(keys)
    return [k for k in placeholders(template) if k not in have]

