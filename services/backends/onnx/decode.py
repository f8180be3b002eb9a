"""The og.Generator token loop shared by the ONNX text and vision paths."""

from __future__ import annotations

from collections.abc import Callable, Generator

from services.backends.base import StopMatcher
from services.types import Token


def decode_tokens(generator, decode: Callable[[int], str], stops: StopMatcher,
                  limit: int | None = None) -> Generator[Token, None, int]:
    """Step the generator one token at a time, yielding text until it is done, a stop string matched or
    `limit` tokens were made; returns how many tokens it made. Closing it stops at the next token."""
    produced = 0
    while (limit is None or produced < limit) and not generator.is_done():
        generator.generate_next_token()
        token = generator.get_next_tokens()[0]
        produced += 1
        piece = stops.feed(decode(token))
        if piece:
            yield Token(piece)
        if stops.stopped:
            break
    tail = stops.flush()
    if tail:
        yield Token(tail)
    return produced
