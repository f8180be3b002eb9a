"""The one download button the app uses: a click fetches the file and never reruns the page."""

from __future__ import annotations

import re

import streamlit as st

from ui.safe_markdown import plain

# characters no file name should carry on any system (path separators, controls, Windows' reserved ones)
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME_CHARS = 120


def safe_file_name(name: str, default: str = "download") -> str:
    """A name the browser saves as it is: the last part of any path, no separators or control characters,
    not hidden (no leading dot), at most MAX_NAME_CHARS (an uploaded file's name may be `../../x`)."""
    last = re.split(r"[/\\]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", last).strip(" .")
    if len(cleaned) > MAX_NAME_CHARS:
        _, dot, ext = cleaned.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        cleaned = cleaned[: MAX_NAME_CHARS - len(keep) - 1].rstrip(" .") + ("." + keep if keep else "")
    return cleaned or default


def file_download(label: str, data, *, file_name: str, mime: str, key: str, where=None, help: str | None = None,
                  use_container_width: bool | None = None) -> None:
    """st.download_button without a rerun on click (a rerun could replace the file the browser is fetching).

    The label and help are shown as plain text, whatever they hold, and the file name is made safe.
    """
    (where or st).download_button(plain(label), data, file_name=safe_file_name(file_name), mime=mime, key=key,
                                  on_click="ignore", help=plain(help) if help else None,
                                  use_container_width=use_container_width)
