"""Multi-turn prefix reuse: keep the last generation's KV state and extend it when a prompt continues it."""

from __future__ import annotations

from dataclasses import dataclass, field

from services import scope

# below this many shared tokens a fresh state is as cheap as rewinding an old one
MIN_REUSE = 8
# extra KV room a fresh ONNX generator gets beyond this request, so the next turns fit in it
RESERVE_TOKENS = 512


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two id lists share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@dataclass
class LiveState:
    """A runtime's KV state and the tokens it holds (their keys and values are computed)."""

    state: object
    key: tuple
    capacity: int
    tokens: list[int] = field(default_factory=list)
    # the session whose prompt is in the state: another session never reuses it, so neither its
    # "reused N prompt tokens" figure nor its time to first token tells it what someone else asked
    owner: str = field(default_factory=scope.current)

    def reusable(self, ids: list[int], key: tuple, need: int) -> int:
        """Tokens of `ids` already in this state (0 when it cannot be reused for this request).

        At least the last two prompt tokens are fed again: the last one's logits pick the first new
        token, and a one-token feed would run the decode kernels, whose rounding differs from a
        prompt's (a greedy answer could change).
        """
        if key != self.key or need > self.capacity or self.owner != scope.current():
            return 0
        k = min(common_prefix(self.tokens, ids), len(ids) - 2)
        return k if k >= MIN_REUSE else 0


def capacity_for(need: int, context_length: int) -> int:
    """KV length for a fresh state: this request plus room for a few more turns, within the context."""
    return min(context_length, need + RESERVE_TOKENS)
