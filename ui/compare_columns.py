"""Compare page widgets: live columns, result columns with metrics or error cards, speeds, word diff."""

from __future__ import annotations

import streamlit as st

from services.compare.word_diff import diff_stats, similarity, word_diff
from services.errors import BadRequest
from services.types import Metrics, ResponseFormat
from ui.metrics_card import metrics_card
from ui.safe_markdown import LiveMarkdown, plain, sanitize, show
from ui.schema_badge import schema_badge

LETTERS = "ABCD"
# redraw a streaming column at most this often; faster only floods the browser with deltas
REDRAW_S = 0.1


def column_name(index: int, target: str, blind: bool) -> str:
    """The header of a column: the target, or 'Model A' while the names are hidden."""
    return f"Model {LETTERS[index]}" if blind else target


def mode_note(result: dict) -> str:
    """What the metrics card says about CPU sharing, so local speeds are read fairly."""
    if result.get("local") is False:
        return "remote: ran at the same time as the others"
    if result.get("mode") == "concurrent":
        return "ran at the same time as other local targets (shared CPU)"
    return "ran on its own (local targets one after another)"


def stream_columns(run, headers: list[str]) -> None:
    """Draw one live column per target while the run's workers stream (script thread only)."""
    cols = st.columns(len(headers))
    status, boxes = [], []
    for col, header in zip(cols, headers, strict=True):
        col.markdown(f"**{plain(header)}**")
        status.append(col.empty())
        boxes.append(LiveMarkdown(col, every=REDRAW_S, cursor=" ▌"))
    for i, s in enumerate(status):
        s.caption("waiting for its turn (local targets run one after another)"
                  if run.job.waits_for_turn(i) else "starting…")
    timer = st.empty()
    texts = [""] * len(headers)
    for batch in run.job.batches(REDRAW_S):
        # also a heartbeat: every Streamlit call lets a Stop click interrupt the loop
        timer.caption(f"running for {run.job.elapsed_s:.1f} s")
        for ev in batch:
            if ev.kind == "token":
                texts[ev.index] += ev.text
            elif ev.kind == "start":
                status[ev.index].caption("generating…")
            elif ev.kind == "done":
                status[ev.index].caption("finished")
                boxes[ev.index].final(texts[ev.index])
            elif ev.kind == "error":
                status[ev.index].caption("failed")
        for i in {ev.index for ev in batch if ev.kind == "token"}:
            boxes[i].update(texts[i])


def result_columns(results: list[dict], headers: list[str], *, show_metrics: bool = True) -> None:
    """Finished columns: the answer, then its metrics card, or an error card for a failed target."""
    cols = st.columns(len(results))
    for col, r, header in zip(cols, results, headers, strict=True):
        col.markdown(f"**{plain(header)}**")
        if r.get("error"):
            card = col.container(border=True)
            card.error(sanitize(r["error"]), icon="⚠️")
            if r.get("text"):
                card.caption("What arrived before it failed:")
                show(r["text"], card)
            continue
        show(r.get("text") or "_(empty answer)_", col)
        if r.get("finish_reason") == "cancelled":
            col.warning("Stopped before the end: this answer is incomplete.")
        metrics = Metrics.from_dict(r.get("metrics"))
        if show_metrics:
            metrics_card(metrics, r.get("finish_reason"), container=col, note=mode_note(r))
        # also in blind mode: validity is about the answer, like its text, and names no target
        schema_badge(metrics, _response_format(r), container=col)


def _response_format(result: dict) -> ResponseFormat | None:
    """The response format a column asked for (a result holds its parameters as JSON)."""
    try:
        return ResponseFormat.coerce((result.get("params") or {}).get("response_format"))
    except BadRequest:
        return None  # a run file's value this version cannot read: no "against the schema"


def speed_chart(results: list[dict], headers: list[str]) -> None:
    """Bar chart of decode speed per answered column, and who was faster by how much."""
    rows = [(h, r["metrics"].get("decode_tokens_per_s")) for r, h in zip(results, headers, strict=True)
            if not r.get("error") and r.get("metrics", {}).get("decode_tokens_per_s")]
    if not rows:
        return
    import pandas as pd

    frame = pd.DataFrame({"target": [h for h, _ in rows], "tokens/s": [v for _, v in rows]})
    st.bar_chart(frame, x="target", y="tokens/s", horizontal=True, height=60 + 40 * len(rows))
    if len(rows) >= 2:
        ranked = sorted(rows, key=lambda hv: -hv[1])
        (fast, vf), (slow, vs) = ranked[0], ranked[-1]
        st.caption(f"Fastest: {plain(fast)} at {vf:.1f} tokens/s, {vf / vs:.1f}× the speed of "
                   f"{plain(slow)} ({vs:.1f} tokens/s).")


def diff_markdown(a: str, b: str) -> str:
    """A's text with removed words struck through in red and B's additions in green (all escaped)."""
    out = []
    for op in word_diff(a, b):
        if op.op == "equal":
            out.append(plain(op.a))
            continue
        if op.a:
            out.append(f":red-background[~~{plain(op.a)}~~]")
        if op.b:
            out.append(f":green-background[{plain(op.b)}]")
    return " ".join(out)


def diff_panel(results: list[dict], headers: list[str], key: str) -> None:
    """Pick two answered columns and show a word-level diff between them."""
    answered = [i for i, r in enumerate(results) if not r.get("error")]
    if len(answered) < 2:
        st.caption("A word diff needs two answers.")
        return
    c1, c2 = st.columns(2)
    a = c1.selectbox("From", answered, index=0, format_func=lambda i: headers[i], key=f"{key}_a")
    b = c2.selectbox("To", answered, index=1, format_func=lambda i: headers[i], key=f"{key}_b")
    ta, tb = results[a].get("text", ""), results[b].get("text", "")
    stats = diff_stats(word_diff(ta, tb))
    st.caption(f"{similarity(ta, tb):.0%} of words in common · {stats['kept']:d} kept, "
               f"{stats['removed']:d} only in {plain(headers[a])}, {stats['added']:d} only in {plain(headers[b])}")
    with st.container(border=True):
        st.markdown(diff_markdown(ta, tb) or "_(both empty)_")
