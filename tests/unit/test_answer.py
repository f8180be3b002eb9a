"""The answer object: the one way to read an answer, driven by a scripted backend."""

from __future__ import annotations

import dataclasses

import pytest

from services.backends.base import Backend
from services.errors import BackendTimeout, BackendUnavailable, IncompleteGeneration, RateLimited
from services.streaming import Answer
from services.types import (Capabilities, ChatRequest, Done, Message, Routing, ServerMetrics, Target, TargetInfo,
                            Token, Usage)


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


def answer_of(script, **kw) -> tuple[Answer, ScriptedBackend]:
    backend = ScriptedBackend(script, **kw)
    request = ChatRequest(Target("scripted", "m"), (Message("user", "hi"),))
    return Answer(backend, request, notices=("a notice",)), backend


def test_scripted_backend_satisfies_the_protocol():
    assert isinstance(ScriptedBackend([]), Backend)


def test_success_fills_text_reason_usage_and_metrics():
    answer, backend = answer_of([Token("Hel"), Token(""), Token("lo"), Usage(7, 2),
                                 ServerMetrics({"eval_count": 2}), Done("stop")], local=True)
    seen, done = [], []
    answer.on_text(seen.append).on_done(done.append)
    assert answer.outcome is None
    assert list(answer) == ["Hel", "lo"]  # empty tokens are not text
    out = answer.outcome
    assert seen == ["Hel", "lo"] and done == [out]
    assert (out.text, out.finish_reason, out.error) == ("Hello", "stop", None)
    assert out.ok and not out.cancelled and out.partial_text == "" and out.error_message == ""
    assert out.metrics.prompt_tokens == 7 and out.metrics.completion_tokens == 2
    assert out.metrics.ttft_s is not None and out.metrics.total_s is not None
    assert out.metrics.server == {"eval_count": 2}
    assert out.metrics.peak_rss_mb is not None  # a local backend reports memory
    assert out.notices == ("a notice",)
    assert backend.closed


def test_text_finishes_and_returns_the_whole_text():
    answer, backend = answer_of([Token("a"), Token("b"), Done("stop")])
    assert answer.text() == "ab" and answer.outcome.finish_reason == "stop" and backend.closed
    assert answer.text() == "ab"  # finished answers keep answering


def test_events_hand_out_every_event_and_feed_the_text_hooks():
    r = Routing("Hi", 0, (1, 3), (0.6, 0.4))
    answer, _ = answer_of([Token("Hi"), r, Usage(3, 1), Done("stop")])
    seen = []
    events = list(answer.on_text(seen.append).events())
    assert [type(e).__name__ for e in events] == ["Token", "Routing", "Usage", "Done"]
    assert seen == ["Hi"] and answer.outcome.routing == (r,)


def test_without_usage_completion_tokens_are_counted():
    answer, _ = answer_of([Token("a"), Token("b"), Token("c"), Done("length")])
    out = answer.finish()
    assert out.metrics.completion_tokens == 3 and out.metrics.prompt_tokens is None
    assert out.finish_reason == "length" and out.metrics.peak_rss_mb is None


def test_a_backend_that_never_says_done_finishes_as_stop():
    answer, _ = answer_of([Token("a")])
    assert answer.finish().finish_reason == "stop"


def test_error_before_any_text_is_kept_not_raised_by_reading():
    err = BackendUnavailable("The server is not running.", hint="Start it.")
    answer, backend = answer_of([err])
    assert list(answer) == []
    out = answer.outcome
    assert out.error is err and out.text == "" and out.partial_text == ""
    assert out.finish_reason is None and not out.ok and not out.cancelled
    assert out.error_message == "The server is not running. Start it."
    assert out.metrics.total_s is not None and backend.closed


def test_text_raises_the_failure_after_the_hooks_ran():
    err = BackendUnavailable("The server is not running.")
    answer, _ = answer_of([err])
    done = []
    with pytest.raises(BackendUnavailable):
        answer.on_done(done.append).text()
    assert done[0].error is err


def test_error_after_some_text_keeps_the_partial_text():
    answer, _ = answer_of([Token("The answer "), Token("is"), BackendTimeout("No answer in 30 s.")])
    seen = []
    assert list(answer.on_text(seen.append)) == ["The answer ", "is"]
    out = answer.outcome
    assert isinstance(out.error, IncompleteGeneration)
    assert out.text == out.partial_text == "The answer is" and seen == ["The answer ", "is"]
    assert out.finish_reason == "incomplete"
    assert out.metrics.completion_tokens == 2


def test_incomplete_generation_keeps_its_partial_text():
    answer, _ = answer_of([Token("Par"), IncompleteGeneration("Cut off.", partial_text="ignored")])
    out = answer.finish()
    assert isinstance(out.error, IncompleteGeneration) and out.error_message == "Cut off."
    # the answer's own text wins over what the backend guessed
    assert out.text == "Par" and out.finish_reason == "incomplete"


def test_incomplete_generation_before_any_yielded_text_keeps_the_backends_text():
    answer, _ = answer_of([IncompleteGeneration("Cut off.", partial_text="held back")])
    out = answer.finish()
    assert out.text == out.partial_text == "held back" and out.finish_reason == "incomplete"


def test_breaking_out_of_the_loop_stops_within_one_token_as_cancelled():
    answer, backend = answer_of([Token("a"), Token("b"), Token("c"), Done("stop")])
    seen = []
    for piece in answer:
        seen.append(piece)
        if len(seen) == 2:
            break
    out = answer.outcome
    assert seen == ["a", "b"] and out.text == "ab"
    assert out.finish_reason == "cancelled" and out.cancelled and out.ok
    assert backend.closed and backend.sent == 2


def test_leaving_the_with_block_closes_the_answer_as_cancelled():
    answer, backend = answer_of([Token("a"), Token("b"), Done("stop")])
    done = []

    class Rerun(Exception):
        """What Streamlit raises in the script thread on a Stop click."""

    with pytest.raises(Rerun), answer.on_done(done.append):
        for _ in answer:
            raise Rerun
    assert backend.closed and done == [answer.outcome] and answer.outcome.cancelled
    assert answer.outcome.text == "a"


def test_closing_an_abandoned_loop_closes_the_answer_as_cancelled():
    answer, backend = answer_of([Token("a"), Token("b"), Done("stop")])
    pieces = iter(answer)
    assert next(pieces) == "a"
    pieces.close()
    assert backend.closed and answer.outcome.cancelled and answer.outcome.text == "a"


def test_closing_before_reading_sends_nothing_and_is_cancelled():
    answer, backend = answer_of([Token("a"), Done("stop")])
    done = []
    answer.on_done(done.append).close()
    answer.close()  # twice is harmless: the hooks see one outcome
    assert backend.sent == 0 and answer.outcome.cancelled and len(done) == 1
    assert list(answer) == [] and answer.text() == ""


def test_rate_limit_before_text_stays_the_same_error():
    err = RateLimited("Too many requests.", retry_after=2)
    out = answer_of([err])[0].finish()
    assert out.error is err and out.error.retry_after == 2


def test_rate_limit_after_text_becomes_incomplete():
    answer, _ = answer_of([Token("x"), Token("y"), RateLimited("Too many requests.", retry_after=2)])
    assert list(answer) == ["x", "y"]
    assert answer.outcome.text == "xy" and isinstance(answer.outcome.error, IncompleteGeneration)


def test_a_bug_in_the_backend_propagates_and_closes_the_answer():
    answer, backend = answer_of([Token("a"), ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        answer.finish()
    assert backend.closed and answer.outcome.text == "a"


def test_a_failing_hook_propagates_and_closes_the_answer():
    answer, backend = answer_of([Token("a"), Token("b"), Done("stop")])

    def boom(piece):
        raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        answer.on_text(boom).finish()
    assert backend.closed and answer.outcome.finish_reason == "cancelled"


def test_outcome_is_frozen():
    answer, _ = answer_of([Token("a"), ServerMetrics({"k": 1}), Done("stop")])
    out = answer.finish()
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.text = "b"  # type: ignore[misc]
