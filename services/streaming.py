"""The one wrapper that times every stream the same way, whatever the backend."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Iterator

from services.errors import IncompleteGeneration, PlaygroundError
from services.types import ChatRequest, Done, Metrics, Routing, ServerMetrics, StreamEvent, Token, Usage


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MeasuredStream:
    """Iterate a backend's events while recording TTFT, decode speed, tokens and totals.

    Iterating yields the backend's events; `text`, `metrics` and `finish_reason` fill in as it
    goes. Closing it (or abandoning it) closes the backend stream in `finally`.
    """

    def __init__(self, backend, request: ChatRequest, *, notices: tuple[str, ...] = (),
                 load_s: float = 0.0):
        self.backend = backend
        self._preload_s = load_s
        self.request = request
        self.notices = notices
        self.metrics = Metrics()
        self.text = ""
        self.finish_reason: str | None = None
        self.routing: list[Routing] = []
        self._iter: Iterator[StreamEvent] | None = None
        self._events = self._run()

    def _run(self) -> Iterator[StreamEvent]:
        m = self.metrics
        local = self.backend.capabilities(self.request.target.model).local
        t_load = time.perf_counter()
        self.backend.prepare(self.request.target.model)
        t0 = time.perf_counter()
        m.load_s = round(self._preload_s + t0 - t_load, 4)
        first = last = None
        n_tokens = 0
        usage: Usage | None = None
        source = self.backend.stream(self.request)
        try:
            for event in source:
                now = time.perf_counter()
                if isinstance(event, Token):
                    if not event.text:
                        continue
                    if first is None:
                        first = now
                        m.ttft_s = round(now - t0, 4)
                    last = now
                    n_tokens += 1
                    self.text += event.text
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, ServerMetrics):
                    m.server.update(event.values)
                elif isinstance(event, Routing):
                    self.routing.append(event)
                elif isinstance(event, Done):
                    self.finish_reason = event.finish_reason
                yield event
        except IncompleteGeneration as exc:
            exc.partial_text = self.text or exc.partial_text
            self.finish_reason = "incomplete"
            raise
        except PlaygroundError:
            if self.text:
                self.finish_reason = "incomplete"
                raise IncompleteGeneration(
                    "The answer was cut off before it finished.", partial_text=self.text
                ) from None
            raise
        except GeneratorExit:
            self.finish_reason = self.finish_reason or "cancelled"
            raise
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            end = time.perf_counter()
            m.total_s = round(end - t0, 4)
            m.prompt_tokens = usage.prompt_tokens if usage else m.prompt_tokens
            m.completion_tokens = usage.completion_tokens if usage else n_tokens
            if first is not None and last is not None and last > first:
                # the first token's time is TTFT; the rest is the decode phase
                decoded = max((m.completion_tokens or n_tokens) - 1, 1)
                m.decode_tokens_per_s = round(decoded / (last - first), 2)
            if local:
                m.peak_rss_mb = round(peak_rss_mb(), 1)
            fmt = self.request.params.response_format
            if fmt.is_json:  # every answer under a JSON format is checked, whichever runtime constrained it
                from services.structured.answers import check_answer

                limit = self.request.params.max_tokens if self.finish_reason == "length" else None
                check = check_answer(self.text, fmt, token_limit=limit)
                m.schema_valid, m.schema_error = check.valid, check.error

    def __iter__(self):
        return self._events

    def __next__(self):
        return next(self._events)

    def text_chunks(self) -> Iterator[str]:
        """Only the text pieces, for display."""
        for event in self._events:
            if isinstance(event, Token):
                yield event.text

    def run(self) -> "MeasuredStream":
        """Consume the whole stream; return self with text and metrics filled."""
        for _ in self._events:
            pass
        return self

    def close(self) -> None:
        """Stop generation now (a rerun or a stop button does this)."""
        self._events.close()


@dataclass(frozen=True)
class StreamOutcome:
    """How a stream ended: its text, finish reason, the error (never raised), metrics and routing.

    finish_reason is the backend's (stop, length, ...), "cancelled" when it was stopped early,
    "incomplete" when it failed after some text, and None when it failed before any text (or the
    backend never said). On a failure `text` keeps what arrived, so `partial_text` is never lost.
    """

    text: str
    finish_reason: str | None
    error: PlaygroundError | None
    metrics: Metrics
    routing: tuple[Routing, ...] = ()
    notices: tuple[str, ...] = ()

    @classmethod
    def of(cls, stream: MeasuredStream, error: PlaygroundError | None = None) -> "StreamOutcome":
        """A snapshot of a stream that has ended (or was closed), with the error that ended it."""
        text = stream.text
        if isinstance(error, IncompleteGeneration):
            # MeasuredStream puts its own text there first; a backend may know more than it yielded
            text = error.partial_text or text
        m = stream.metrics
        return cls(text, stream.finish_reason, error, replace(m, server=dict(m.server)),
                   tuple(stream.routing), tuple(stream.notices))

    @property
    def ok(self) -> bool:
        """True when the stream ended without an error (finished or stopped)."""
        return self.error is None

    @property
    def partial_text(self) -> str:
        """The text that arrived before a failure ("" when there was no failure)."""
        return self.text if self.error is not None else ""

    @property
    def cancelled(self) -> bool:
        """True when the stream was stopped before the backend finished."""
        return self.error is None and self.finish_reason == "cancelled"

    @property
    def error_message(self) -> str:
        """The error as a person reads it, or "" when there was none."""
        return self.error.user_message() if self.error is not None else ""


def read_pieces(stream: MeasuredStream, *, on_text: Callable[[str], None] | None = None,
                stop: Callable[[], bool] | None = None) -> Generator[str, None, StreamOutcome]:
    """Yield the stream's text pieces; return its StreamOutcome (`yield from` hands it back).

    A PlaygroundError ends the pieces and becomes the outcome's error instead of being raised;
    any other exception is a bug and propagates. on_text sees each piece before it is yielded;
    stop is asked after each piece and ends the stream early (as "cancelled") when it says so.
    Closing this generator closes the stream, which is then recorded as cancelled.
    """
    error: PlaygroundError | None = None
    try:
        for piece in stream.text_chunks():
            if on_text is not None:
                on_text(piece)
            yield piece
            if stop is not None and stop():
                break
    except PlaygroundError as exc:
        error = exc
    finally:
        stream.close()
    return StreamOutcome.of(stream, error)


def read_outcome(stream: MeasuredStream, *, on_text: Callable[[str], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> StreamOutcome:
    """Consume the stream to the end (or until stop() says so) and return how it ended; never
    raises a PlaygroundError. on_text sees each text piece as it arrives (the CLI prints them)."""
    pieces = read_pieces(stream, on_text=on_text, stop=stop)
    while True:
        try:
            next(pieces)
        except StopIteration as end:
            return end.value
