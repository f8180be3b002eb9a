"""The one wrapper that times every stream the same way, whatever the backend."""

from __future__ import annotations

import resource
import time
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
        local = getattr(self.backend, "capabilities")(self.request.target.model).local
        t_load = time.perf_counter()
        prepare = getattr(self.backend, "prepare", None)
        if prepare is not None:
            prepare(self.request.target.model)
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
