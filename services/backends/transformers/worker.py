"""What the transformers text and vision paths share: end-of-sequence ids, and generate() run in a
worker thread under the model's lock, read to the end."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache

from services.backends import limits
from services.backends.base import StopMatcher
from services.errors import BackendTimeout, BackendUnavailable
from services.types import Done, Token, Usage

# seconds without a new piece before a stalled generate() is reported (TextIteratorStreamer timeout)
STREAM_TIMEOUT_S = 120
# seconds to wait for the worker thread once the stop event is set
JOIN_TIMEOUT_S = 10


def eos_ids(model, tokenizer) -> list[int]:
    """The ids that end an answer: the generation config's, plus the tokenizer's eos and Phi-3's <|end|>
    (Phi-3 configs sometimes list only <|endoftext|>)."""
    eos = model.generation_config.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    end_id = tokenizer.convert_tokens_to_ids("<|end|>") if "<|end|>" in tokenizer.get_vocab() else None
    for extra in (end_id, tokenizer.eos_token_id):
        if extra is not None and extra not in ids:
            ids.append(extra)
    return ids


@lru_cache(maxsize=1)
def json_streamer(base):
    """A TextIteratorStreamer subclass that hands out each token's text as soon as it is whole (made once)."""

    class Streamer(base):
        def put(self, value):
            if len(value.shape) > 1:
                value = value[0]  # batch 1
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.token_cache.extend(value.tolist())
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            if text.endswith("\ufffd"):
                return  # half of a multi-byte character: wait for the rest
            piece, self.print_len = text[self.print_len:], len(text)
            if piece:
                self.on_finalized_text(piece)

    return Streamer


def generate_in_worker(lock: threading.Lock, tokenizer, generate: Callable, n_prompt: int, params, *,
                       thread_name: str, hooked: Callable[[], AbstractContextManager] = nullcontext,
                       after: Callable | None = None, between: Callable | None = None,
                       release: Callable[[], None] | None = None) -> Iterator:
    """Run `generate(streamer, stopping_criteria)` in a worker thread holding the model's lock and yield
    its events; closing the iterator sets the stop event, so generation ends within one token.

    `hooked()` wraps the call and `after(ids)` runs inside it (MoE routing hooks); `between()` yields
    events between pieces; `release()` runs once the worker is done, before the lock is let go.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    stop_event = threading.Event()

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop_event.is_set()

    # compact JSON has no spaces, and TextIteratorStreamer holds symbols back until one: under a JSON format
    # the answer would arrive in one piece at the end (no streaming, TTFT = total time, no decode speed)
    kind = json_streamer(TextIteratorStreamer) if params.response_format.is_json else TextIteratorStreamer
    streamer = kind(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_TIMEOUT_S)
    result: dict = {}

    def work():
        try:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            with torch.inference_mode(), hooked():
                result["ids"] = generate(streamer, StoppingCriteriaList([StopOnEvent()]))
                if after is not None:
                    after(result["ids"])
        except BaseException as exc:  # surfaced in the consumer, never lost in the thread
            result["error"] = exc
            streamer.end()

    limits.acquire(lock)
    worker = threading.Thread(target=work, name=thread_name, daemon=True)
    try:
        worker.start()
        yield from consume_worker(streamer, worker, stop_event, result, n_prompt, params, between=between)
    finally:
        stop_event.set()
        worker.join(JOIN_TIMEOUT_S)
        if release is not None:
            release()
        lock.release()


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
