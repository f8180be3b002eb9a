"""The answer object: one way to read a model's answer, timed the same way whatever the backend."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from services.errors import IncompleteGeneration, PlaygroundError
from services.structured.answers import check_answer
from services.types import ChatRequest, Done, Metrics, Routing, ServerMetrics, StreamEvent, Token, Usage


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class AnswerOutcome:
    """How an answer ended: its text, finish reason, the error (never raised), metrics and routing.

    finish_reason is the backend's (stop, length, ...), "cancelled" when it was stopped early,
    "incomplete" when it failed after some text, and None when it failed before any text. On a
    failure `text` keeps what arrived, so `partial_text` is never lost.
    """

    text: str
    finish_reason: str | None
    error: PlaygroundError | None
    metrics: Metrics
    routing: tuple[Routing, ...] = ()
    notices: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the answer ended without an error (finished or stopped)."""
        return self.error is None

    @property
    def partial_text(self) -> str:
        """The text that arrived before a failure ("" when there was no failure)."""
        return self.text if self.error is not None else ""

    @property
    def cancelled(self) -> bool:
        """True when the answer was stopped before the backend finished."""
        return self.error is None and self.finish_reason == "cancelled"

    @property
    def error_message(self) -> str:
        """The error as a person reads it, or "" when there was none."""
        return self.error.user_message() if self.error is not None else ""


class Answer:
    """One answer being generated: iterate it for text, `.events()` for every event, `.text()` to finish.

    It is a context manager; leaving the block, breaking out of the loop, `close()`, or abandoning
    it (a Streamlit rerun does that) stops generation at the next token. However it ends, `.outcome`
    is set and every `on_done` hook sees it once. A PlaygroundError ends the text and becomes
    `outcome.error` (only `.text()` raises it); any other exception is a bug and propagates.
    """

    def __init__(self, backend, request: ChatRequest, *, notices: tuple[str, ...] = (), load_s: float = 0.0):
        self.backend = backend
        self.request = request
        self.notices = notices
        self.outcome: AnswerOutcome | None = None
        # set when the answer is kept in the conversation store (as simonw/llm's Response.id)
        self.conv_id: str | None = None
        self.message_id: int | None = None
        self._preload_s = load_s
        self._metrics = Metrics()
        self._received = ""
        self._finish_reason: str | None = None
        self._routing: list[Routing] = []
        self._error: PlaygroundError | None = None
        self._ended = False
        self._on_text: list[Callable[[str], None]] = []
        self._on_done: list[Callable[[AnswerOutcome], None]] = []
        self._measured = self._measure()
        self._reader = self._read()

    # hooks ------------------------------------------------------------------------------------
    def on_text(self, hook: Callable[[str], None]) -> Answer:
        """Call hook(piece) with each text piece as it arrives, before it is handed out."""
        self._on_text.append(hook)
        return self

    def on_done(self, hook: Callable[[AnswerOutcome], None]) -> Answer:
        """Call hook(outcome) once when the answer ends: finished, failed, stopped or abandoned."""
        self._on_done.append(hook)
        return self

    # reading ----------------------------------------------------------------------------------
    def events(self) -> Iterator[StreamEvent]:
        """Every event (tokens, usage, routing, done); the answer closes when this ends or is closed."""
        try:
            yield from self._reader
        finally:
            self.close()

    def __iter__(self) -> Iterator[str]:
        """The text pieces, as they arrive."""
        events = self.events()
        try:
            for event in events:
                if isinstance(event, Token):
                    yield event.text
        finally:
            events.close()  # a break or an abandoned loop ends the answer now, not when collected

    def finish(self) -> AnswerOutcome:
        """Read to the end and return the outcome; a failure is in outcome.error, never raised."""
        for _ in self.events():
            pass
        return self.outcome

    def text(self) -> str:
        """Read to the end and return the whole text; a failure is raised (after the hooks ran)."""
        outcome = self.finish()
        if outcome.error is not None:
            raise outcome.error
        return outcome.text

    def close(self) -> None:
        """Stop generation now (kept as "cancelled" when unfinished), set .outcome, run the on_done hooks."""
        if self.outcome is not None:
            return
        self._reader.close()
        self._measured.close()
        error = self._error
        text = self._received
        if isinstance(error, IncompleteGeneration):
            # the answer put its own text there first; a backend may know more than it yielded
            text = error.partial_text or text
        finish = self._finish_reason
        if finish is None and error is None:
            finish = "stop" if self._ended else "cancelled"
        m = self._metrics
        self.outcome = AnswerOutcome(text, finish, error, replace(m, server=dict(m.server)),
                                     tuple(self._routing), tuple(self.notices))
        for hook in self._on_done:
            hook(self.outcome)

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # inside -----------------------------------------------------------------------------------
    def _read(self) -> Iterator[StreamEvent]:
        """The measured events with the on_text hooks applied; a PlaygroundError ends them quietly."""
        try:
            for event in self._measured:
                if isinstance(event, Token):
                    for hook in self._on_text:
                        hook(event.text)
                yield event
            self._ended = True
        except PlaygroundError as exc:
            self._error = exc

    def _measure(self) -> Iterator[StreamEvent]:
        """The backend's events while recording TTFT, decode speed, tokens and totals."""
        m = self._metrics
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
                    self._received += event.text
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, ServerMetrics):
                    m.server.update(event.values)
                elif isinstance(event, Routing):
                    self._routing.append(event)
                elif isinstance(event, Done):
                    self._finish_reason = event.finish_reason
                yield event
        except IncompleteGeneration as exc:
            exc.partial_text = self._received or exc.partial_text
            self._finish_reason = "incomplete"
            raise
        except PlaygroundError:
            if self._received:
                self._finish_reason = "incomplete"
                raise IncompleteGeneration(
                    "The answer was cut off before it finished.", partial_text=self._received
                ) from None
            raise
        except GeneratorExit:
            self._finish_reason = self._finish_reason or "cancelled"
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
                limit = self.request.params.max_tokens if self._finish_reason == "length" else None
                check = check_answer(self._received, fmt, token_limit=limit)
                m.schema_valid, m.schema_error = check.valid, check.error
