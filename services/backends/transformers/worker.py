"""Reading a transformers generate() worker to the end: shared by the text and vision paths."""

from __future__ import annotations

from collections.abc import Iterator

from services.backends.base import StopMatcher
from services.errors import BackendTimeout, BackendUnavailable
from services.types import Done, Token, Usage

# seconds without a new piece before a stalled generate() is reported (TextIteratorStreamer timeout)
STREAM_TIMEOUT_S = 120
# seconds to wait for the worker thread once the stop event is set
JOIN_TIMEOUT_S = 10


def consume_worker(streamer, worker, stop_event, result: dict, n_prompt: int, params,
                   between=None) -> Iterator:
    """A generate() worker's streamer as events: stop strings, stall timeout, errors, usage, finish."""
    import queue

    stops = StopMatcher(params.stop)
    try:
        for piece in streamer:
            out = stops.feed(piece)
            if out:
                yield Token(out)
            if between is not None:
                yield from between()
            if stops.stopped:
                break
    except queue.Empty as exc:
        raise BackendTimeout(f"The model produced nothing for {STREAM_TIMEOUT_S} s.") from exc
    if not stops.stopped:
        tail = stops.flush()
        if tail:
            yield Token(tail)
    stop_event.set()
    worker.join(JOIN_TIMEOUT_S)
    if "error" in result:
        raise BackendUnavailable(f"Generation failed: {result['error']}") from result["error"]
    produced = int(result["ids"].shape[-1]) - n_prompt if "ids" in result else 0
    if between is not None:
        yield from between()  # e.g. MoE routing of the last token
    yield Usage(n_prompt, produced)
    yield Done("length" if produced >= params.max_tokens and not stops.stopped else "stop")
