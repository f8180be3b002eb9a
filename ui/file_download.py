"""The one download button the app uses: a click fetches the file and never reruns the page."""

from __future__ import annotations

import streamlit as st

from ui.safe_markdown import plain


def file_download(label: str, data, *, file_name: str, mime: str, key: str, where=None, help: str | None = None,
                  use_container_width: bool | None = None) -> None:
    """st.download_button without a rerun on click (a rerun could replace the file the browser is fetching).

    The label and help are shown as plain text, whatever they hold.
    """
    (where or st).download_button(plain(label), data, file_name=file_name, mime=mime, key=key, on_click="ignore",
                                  help=plain(help) if help else None, use_container_width=use_container_width)
