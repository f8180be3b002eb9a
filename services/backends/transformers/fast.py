"""The transformers fast path: a greedy pull loop (no thread, no streamer) with a cache reused across turns."""

from __future__ import annotations

from typing import Iterator

from services.backends import kv_reuse
from services.backends.base import StopMatcher
from services.types import ChatRequest, Done, ServerMetrics, Token, Usage


def eligible(request: ChatRequest) -> bool:
    """Greedy text requests with no penalty, routing trace or JSON grammar; everything else uses generate()."""
    p = request.params
    return p.greedy and p.penalty(local=True) == 1.0 and not request.routing and not p.response_format.is_json


class TextTail:
    """Incremental detokenizer: decode everything so far, hand out only the new, complete text."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = 0

    def feed(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""  # half of a multi-byte character: wait for the rest
        out, self.sent = text[self.sent:], len(text)
        return out

    def flush(self) -> str:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        out, self.sent = text[self.sent:], len(text)
        return out


def cache_kw(model) -> str:
    """transformers 5.x renamed past_key_values to cache; use whichever this version takes."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def cache_of(out):
    """The KV cache a forward pass returned, under either name."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _cache_for(loaded, ids: list[int]):
    """The kept cache cropped to the shared prefix, or None for a fresh one; and the tokens it holds."""
    live, loaded.live = loaded.live, None
    start = live.reusable(ids, ("greedy",), len(ids)) if live is not None else 0
    if start:
        try:
            extra = live.state.get_seq_length() - start
            if extra > 0:
                # transformers 5.x crops by a negative count (tokens to drop from the end)
                live.state.crop(-extra)
            return live.state, start
        except (AttributeError, NotImplementedError, ValueError):
            pass  # a cache type that cannot be cut (sliding windows): start afresh
    return None, 0


def stream(loaded, request: ChatRequest, input_ids) -> Iterator:
    """Generate greedily token by token; the caller holds the model lock."""
    import torch

    p = request.params
    model = loaded.model
    ids = input_ids[0].tolist()
    n_prompt = len(ids)
    max_new = min(p.max_tokens, loaded.context_length - n_prompt)
    eos = set(loaded.eos_ids)
    cache, start = _cache_for(loaded, ids)
    stops = StopMatcher(p.stop)
    tail = TextTail(loaded.tokenizer)
    produced = 0
    kept = None
    try:
        with torch.inference_mode():
            feed = torch.tensor([ids[start:]], dtype=torch.long)
            # only the last position's logits are needed: skips a vocab-sized matmul per prompt token
            kw = cache_kw(model)
            out = model(input_ids=feed, use_cache=True, logits_to_keep=1, **{kw: cache})
            cache = cache_of(out)
            # only the prompt's own keys and values are kept (decode steps round differently)
            kept = kv_reuse.LiveState(cache, ("greedy",), loaded.context_length, list(ids))
            finished_by = "length"
            while produced < max_new:
                token = int(out.logits[0, -1].argmax())
                produced += 1
                if token in eos:
                    finished_by = "stop"
                    break
                piece = stops.feed(tail.feed(token))
                if piece:
                    yield Token(piece)
                if stops.stopped:
                    finished_by = "stop"
                    break
                if produced >= max_new:
                    break
                out = model(input_ids=torch.tensor([[token]]), use_cache=True, logits_to_keep=1, **{kw: cache})
        if not stops.stopped:
            rest = stops.feed(tail.flush()) + stops.flush()
            if rest:
                yield Token(rest)
        yield Usage(n_prompt, produced)
        yield ServerMetrics({"prompt_cache_tokens": start})
        yield Done(finished_by)
    except GeneratorExit:
        raise
    except BaseException:
        kept = None  # never reuse a state from a failed run
        raise
    finally:
        if kept is not None:
            # decode steps appended to the cache; cut back to the prompt on the next reuse
            loaded.live = kept
