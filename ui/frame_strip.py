"""A strip of thumbnails: uploaded images and the video frames chosen, each with its timestamp."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from services.types import ImagePart
from services.media.vision import format_timestamp
from ui.safe_markdown import plain

PER_ROW = 6


def caption(part: ImagePart, number: int) -> str:
    """'#3 · 0:05.2' for a frame, '#1 · name.png' for an image."""
    if part.timestamp_s is not None:
        return f"#{number} · {format_timestamp(part.timestamp_s)}"
    return f"#{number} · {plain(part.label or 'image')}"


def frame_strip(parts: Sequence[ImagePart], *, start: int = 1, per_row: int = PER_ROW, container=None) -> None:
    """Thumbnails in rows, numbered as the model sees them (Image 1, Image 2, ...)."""
    where = container or st
    for row in range(0, len(parts), per_row):
        cols = where.columns(per_row)
        for col, (k, part) in zip(cols, enumerate(parts[row:row + per_row], start + row), strict=False):
            col.image(part.data, caption=caption(part, k), width="stretch")


def progress_reporter(label: str, container=None) -> tuple[Callable[[float, str], None], Callable[[], None]]:
    """A progress bar for long sampling: (report(fraction, message), done())."""
    bar = (container or st).progress(0.0, text=plain(label))

    def report(fraction: float, message: str) -> None:
        bar.progress(max(0.0, min(1.0, fraction)), text=plain(f"{label}: {message}"))

    return report, bar.empty
