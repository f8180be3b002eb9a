"""read_outcome / read_pieces: one way to consume a stream, driven by a scripted backend."""

from __future__ import annotations

import dataclasses

import pytest

from services.backends.base import Backend, TargetInfo
from services.errors import BackendTimeout, BackendUnavailable, IncompleteGeneration, RateLimited
from services.streaming import MeasuredStream, StreamOutcome, read_outcome, read_pieces
from services.types import (Capabilities, ChatRequest, Done, Message, Routing, ServerMetrics, Target, Token,
                            Usage)


class ScriptedBackend:
    """Yields the scripted events in order; an exception in the script is raised at its place."""

    name = "scripted"

    def __init__(self, script, *, local: bool = False):
        self.script = list(script)
        self.local = local
        self.closed = False
        self.sent = 0

    def capabilities(self, model: str) -> Capabilities:
        return Capabilities(local=self.local)

    def stream(self, request: ChatRequest):
        try:
            for item in self.script:
                if isinstance(item, BaseException):
                    raise item
                self.sent += 1
                yield item
        finally:
            self.closed = True

    def list_targets(self) -> list[TargetInfo]:
        return [TargetInfo("scripted:m", True)]

    def prepare(self, model: str) -> None:
        return None

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        return None

    # it holds no model and keeps no state
    def loaded(self) -> list:
        return []

    def unload(self, key: str) -> bool:
        return True

    def reset_cache(self) -> None:
        return None

    def health(self):
        return None


def measured(script, **kw) -> tuple[MeasuredStream, ScriptedBackend]:
    backend = ScriptedBackend(script, **kw)
    request = ChatRequest(Target("scripted", "m"), (Message("user", "hi"),))
    return MeasuredStream(backend, request, notices=("a notice",)), backend


def test_scripted_backend_satisfies_the_protocol():
    assert isinstance(ScriptedBackend([]), Backend)


def test_success_fills_text_reason_usage_and_metrics():
    stream, backend = measured([Token("Hel"), Token(""), Token("lo"), Usage(7, 2),
                                ServerMetrics({"eval_count": 2}), Done("stop")], local=True)
    seen = []
    out = read_outcome(stream, on_text=seen.append)
    assert seen == ["Hel", "lo"]  # empty tokens are not text
    assert (out.text, out.finish_reason, out.error) == ("Hello", "stop", None)
    assert out.ok and not out.cancelled and out.partial_text == "" and out.error_message == ""
    assert out.metrics.prompt_tokens == 7 and out.metrics.completion_tokens == 2
    assert out.metrics.ttft_s is not None and out.metrics.total_s is not None
    assert out.metrics.server == {"eval_count": 2}
    assert out.metrics.peak_rss_mb is not None  # a local backend reports memory
    assert out.notices == ("a notice",)
    assert backend.closed


def test_without_usage_completion_tokens_are_counted():
    stream, _ = measured([Token("a"), Token("b"), Token("c"), Done("length")])
    out = read_outcome(stream)
    assert out.metrics.completion_tokens == 3 and out.metrics.prompt_tokens is None
    assert out.finish_reason == "length" and out.metrics.peak_rss_mb is None


def test_routing_is_kept():
    r = Routing("Hi", 0, (1, 3), (0.6, 0.4))
    stream, _ = measured([Token("Hi"), r, Done("stop")])
    assert read_outcome(stream).routing == (r,)


def test_error_before_any_text_is_returned_not_raised():
    err = BackendUnavailable("The server is not running.", hint="Start it.")
    stream, backend = measured([err])
    out = read_outcome(stream)
    assert out.error is err and out.text == "" and out.partial_text == ""
    assert out.finish_reason is None and not out.ok and not out.cancelled
    assert out.error_message == "The server is not running. Start it."
    assert out.metrics.total_s is not None and backend.closed


def test_error_after_some_text_keeps_the_partial_text():
    stream, _ = measured([Token("The answer "), Token("is"), BackendTimeout("No answer in 30 s.")])
    seen = []
    out = read_outcome(stream, on_text=seen.append)
    assert isinstance(out.error, IncompleteGeneration)
    assert out.text == out.partial_text == "The answer is" and seen == ["The answer ", "is"]
    assert out.finish_reason == "incomplete"
    assert out.metrics.completion_tokens == 2


def test_incomplete_generation_keeps_its_partial_text():
    stream, _ = measured([Token("Par"), IncompleteGeneration("Cut off.", partial_text="ignored")])
    out = read_outcome(stream)
    assert isinstance(out.error, IncompleteGeneration) and out.error_message == "Cut off."
    # the stream's own text wins over what the backend guessed
    assert out.text == "Par" and out.finish_reason == "incomplete"


def test_incomplete_generation_before_any_yielded_text_keeps_the_backends_text():
    stream, _ = measured([IncompleteGeneration("Cut off.", partial_text="held back")])
    out = read_outcome(stream)
    assert out.text == out.partial_text == "held back" and out.finish_reason == "incomplete"


def test_stop_ends_the_stream_as_cancelled():
    stream, backend = measured([Token("a"), Token("b"), Token("c"), Done("stop")])
    seen = []
    out = read_outcome(stream, on_text=seen.append, stop=lambda: len(seen) >= 2)
    assert seen == ["a", "b"] and out.text == "ab"
    assert out.finish_reason == "cancelled" and out.cancelled and out.ok
    assert backend.closed and backend.sent == 2


def test_closing_the_pieces_generator_closes_the_stream_as_cancelled():
    stream, backend = measured([Token("a"), Token("b"), Done("stop")])
    pieces = read_pieces(stream)
    assert next(pieces) == "a"
    pieces.close()
    assert backend.closed and stream.finish_reason == "cancelled" and stream.text == "a"
    assert StreamOutcome.of(stream).cancelled


def test_yield_from_hands_back_the_outcome():
    stream, _ = measured([Token("x"), Token("y"), RateLimited("Too many requests.", retry_after=2)])
    got = []

    def consumer():
        out = yield from read_pieces(stream)
        got.append(out)

    assert list(consumer()) == ["x", "y"]
    assert got[0].text == "xy" and isinstance(got[0].error, IncompleteGeneration)


def test_rate_limit_before_text_stays_the_same_error():
    err = RateLimited("Too many requests.", retry_after=2)
    out = read_outcome(measured([err])[0])
    assert out.error is err and out.error.retry_after == 2


def test_a_bug_in_the_backend_propagates_and_closes_the_stream():
    stream, backend = measured([Token("a"), ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        read_outcome(stream)
    assert backend.closed


def test_a_failing_callback_propagates_and_closes_the_stream():
    stream, backend = measured([Token("a"), Token("b"), Done("stop")])

    def boom(piece):
        raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        read_outcome(stream, on_text=boom)
    assert backend.closed and stream.finish_reason == "cancelled"


def test_outcome_is_frozen_and_a_snapshot():
    stream, _ = measured([Token("a"), ServerMetrics({"k": 1}), Done("stop")])
    out = read_outcome(stream)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.text = "b"  # type: ignore[misc]
    stream.metrics.server["k"] = 2
    assert out.metrics.server == {"k": 1}
