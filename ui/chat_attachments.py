"""Images in the chat input, for targets that take them; every file checked by content before sending."""

from __future__ import annotations

import streamlit as st

from services.media import images as media
from services.chat import MAX_PROMPT_CHARS
from services.errors import MediaError
from services.types import ImagePart, Target, TargetInfo
from services.media.vision import max_side_for
from ui.safe_markdown import sanitize


def prepare_files(files, max_images: int, max_side: int = media.DEFAULT_MAX_SIDE) -> tuple[tuple[ImagePart, ...], list[str]]:
    """Checked, re-encoded images and one message per file that cannot be used."""
    parts, problems = [], []
    if len(files or []) > max_images:
        # counted before any is decoded: a pile of large images costs nothing to refuse
        return (), [f"This target takes at most {max_images} images per request; {len(files)} were attached."]
    for f in files or []:
        try:
            parts.append(media.prepare_image(f.name, f.getvalue(), max_side=max_side).part)
        except MediaError as exc:
            problems.append(exc.user_message())
    return tuple(parts), problems


def chat_input_with_images(info: TargetInfo, ready: bool, *, key: str = "chat_input") -> tuple[str | None, tuple[ImagePart, ...]]:
    """The chat input; for vision targets it also takes images. Returns (text or None, images).

    When an attached file cannot be used nothing is sent: the reasons and the typed text are shown,
    so the person can fix the attachment without retyping.
    """
    caps = info.capabilities
    # not ready: either the target cannot answer, or the parameters panel shows what to fix
    waiting = "Fix the parameters in the sidebar first" if info.available else "Pick an available target first"
    if not caps.images:
        text = st.chat_input("Ask anything…" if ready else waiting,
                             disabled=not ready, key=key, max_chars=MAX_PROMPT_CHARS)
        return text, ()
    value = st.chat_input("Ask anything, or attach images…" if ready else waiting,
                          disabled=not ready, key=f"{key}_with_images", accept_file="multiple", max_chars=MAX_PROMPT_CHARS,
                          file_type=list(media.IMAGE_EXTENSIONS), max_upload_size=media.MAX_IMAGE_BYTES // media.MB)
    if value is None:
        return None, ()
    text = value.text or ""
    images, problems = prepare_files(value.files, caps.max_images, max_side_for(info.target))
    if problems:
        for problem in problems:
            st.error(sanitize(problem))
        if text.strip():
            st.caption("Your message was not sent; here it is to copy:")
            st.code(text, language=None, wrap_lines=True)
        return None, ()
    if Target.parse(info.target).backend == "ocr" and images:
        st.caption("This target reads the text in images (OCR); it does not see them.")
    return text, images
