"""One line (or card) of speed figures under an answer."""

from __future__ import annotations

import streamlit as st

from services.types import Metrics
from ui.safe_markdown import plain


def _fmt(value, unit: str = "", digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _count(value) -> str:
    # a stopped stream may not know its prompt size: None must read as "unknown", not "None"
    return "–" if value is None else str(value)


def metrics_line(metrics: Metrics, finish_reason: str | None = None) -> str:
    """TTFT, decode speed, tokens in/out, total and load time, as one line of text."""
    m = metrics
    parts = [
        f"TTFT {_fmt(m.ttft_s, ' s')}",
        f"{_fmt(m.decode_tokens_per_s, ' tok/s', 1)}",
        f"{_count(m.prompt_tokens)} in / {_count(m.completion_tokens)} out",
        f"total {_fmt(m.total_s, ' s')}",
    ]
    if m.load_s:
        parts.append(f"load {_fmt(m.load_s, ' s')}")
    answered_by = m.server.get("answered_by")
    if answered_by:
        # the embedded model's ONNX copy was still building: say which runtime really answered
        parts.append(f"answered by {answered_by} while the ONNX copy builds")
    if finish_reason and finish_reason != "stop":
        parts.append(f"finish: {finish_reason}")
    return " · ".join(parts)


def metrics_caption(metrics: Metrics, finish_reason: str | None = None, container=None) -> None:
    """The metrics line as a caption."""
    (container or st).caption(plain(metrics_line(metrics, finish_reason)))


def metrics_card(metrics: Metrics, finish_reason: str | None = None, container=None, note: str = "") -> None:
    """A bordered card of metrics for a compare column."""
    where = (container or st).container(border=True)
    m = metrics
    c1, c2, c3 = where.columns(3)
    c1.metric("TTFT", plain(_fmt(m.ttft_s, " s")))
    c2.metric("Tokens/s", plain(_fmt(m.decode_tokens_per_s, "", 1)))
    c3.metric("Total", plain(_fmt(m.total_s, " s")))
    where.caption(plain(f"{_count(m.prompt_tokens)} tokens in / {_count(m.completion_tokens)} out · "
                  f"load {_fmt(m.load_s, ' s')} · finish {finish_reason or '–'}"
                  + (f" · {note}" if note else "")))
