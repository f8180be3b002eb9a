"""Render model and user text as markdown with no HTML, no remote images, no script links."""

from __future__ import annotations

import re

FENCE = re.compile(r"(^|\n)(```|~~~)")
# inline images, reference images and their definitions would make the browser fetch a URL
IMAGE = re.compile(r"!\[([^\]]*)\]\s*(\([^)]*\)|\[[^\]]*\])")
LINK = re.compile(r"\[([^\]]*)\]\(\s*([^)\s]*)[^)]*\)")
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.\-]*:[^>\s]*)>")
SAFE_SCHEMES = ("http://", "https://", "mailto:", "#")


def _link(match: re.Match) -> str:
    label, url = match.group(1), match.group(2)
    if url.lower().startswith(SAFE_SCHEMES):
        return match.group(0)
    # javascript:, data:, vbscript: ... stay visible as text but are not clickable
    return f"{label} ({url.replace(':', '&#58;', 1)})"


def _prose(text: str) -> str:
    text = IMAGE.sub(lambda m: f"[image not loaded: {m.group(1) or 'untitled'}]", text)
    text = AUTOLINK.sub(lambda m: m.group(1).replace(":", "&#58;", 1) if not m.group(1).lower().startswith(SAFE_SCHEMES) else m.group(0), text)
    text = LINK.sub(_link, text)
    # HTML is shown as text: escape every tag opener outside code
    return text.replace("<", "&lt;")


def _split_inline_code(text: str) -> str:
    parts = re.split(r"(`+[^`]*`+)", text)
    return "".join(p if p.startswith("`") else _prose(p) for p in parts)


def sanitize(text: str) -> str:
    """Markdown safe to hand to st.markdown: code blocks untouched, everything else defused."""
    out, in_fence = [], False
    for block in re.split(r"(\n?(?:```|~~~)[^\n]*)", text):
        if re.fullmatch(r"\n?(?:```|~~~)[^\n]*", block or ""):
            in_fence = not in_fence
            out.append(block)
        elif in_fence:
            out.append(block)
        else:
            out.append(_split_inline_code(block))
    return "".join(out)


def show(text: str, container=None) -> None:
    """Write sanitized markdown (never unsafe_allow_html)."""
    import streamlit as st

    (container or st).markdown(sanitize(text))
