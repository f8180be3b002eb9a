"""Elo ratings and a per-target leaderboard from blind A/B votes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

OUTCOMES = ("a", "b", "tie", "both_bad")
INITIAL = 1000.0
K = 32.0
# score of side A for each outcome; "both bad" counts as a tie for ratings, as Chatbot Arena does
SCORE_A = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


def check_outcome(outcome: str) -> str:
    """The outcome if it is one we know, else a ValueError naming the valid ones."""
    if outcome not in OUTCOMES:
        raise ValueError(f"A vote is one of {', '.join(OUTCOMES)}, not {outcome!r}.")
    return outcome


def expected(rating_a: float, rating_b: float) -> float:
    """The chance A beats B under Elo's logistic curve (400-point scale)."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / 400.0))


def update(rating_a: float, rating_b: float, outcome: str, k: float = K) -> tuple[float, float]:
    """New (A, B) ratings after one vote; what A gains B loses, so the total stays the same."""
    delta = k * (SCORE_A[check_outcome(outcome)] - expected(rating_a, rating_b))
    return rating_a + delta, rating_b - delta


@dataclass
class Standing:
    """One leaderboard row."""

    target: str
    elo: float = INITIAL
    votes: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def win_rate(self) -> float:
        """Wins over all votes this target took part in (ties and both-bad count as not won)."""
        return self.wins / self.votes if self.votes else 0.0

    def to_dict(self) -> dict:
        """Plain dict for tables and JSON, Elo rounded to one decimal."""
        d = asdict(self)
        d["elo"] = round(self.elo, 1)
        d["win_rate"] = round(self.win_rate, 4)
        return d


def ratings(votes: Iterable[Mapping], k: float = K, initial: float = INITIAL) -> dict[str, Standing]:
    """Replay votes in the order given (oldest first) into standings keyed by target."""
    table: dict[str, Standing] = {}
    for vote in votes:
        a, b, outcome = vote["target_a"], vote["target_b"], check_outcome(vote["outcome"])
        sa = table.setdefault(a, Standing(a, initial))
        sb = table.setdefault(b, Standing(b, initial))
        if a == b:
            # a target against itself says nothing about its strength
            continue
        sa.elo, sb.elo = update(sa.elo, sb.elo, outcome, k)
        sa.votes += 1
        sb.votes += 1
        if outcome == "a":
            sa.wins, sb.losses = sa.wins + 1, sb.losses + 1
        elif outcome == "b":
            sb.wins, sa.losses = sb.wins + 1, sa.losses + 1
        elif outcome == "tie":
            sa.ties, sb.ties = sa.ties + 1, sb.ties + 1
        else:
            sa.both_bad, sb.both_bad = sa.both_bad + 1, sb.both_bad + 1
    return table


def leaderboard(votes: Iterable[Mapping], k: float = K) -> list[dict]:
    """Rows sorted by Elo (then win rate, votes, name): target, elo, votes, wins, ..., win_rate.

    Votes are replayed oldest first; a list from the store with a `created` field is sorted by it.
    """
    votes = list(votes)
    if votes and all("created" in v for v in votes):
        votes.sort(key=lambda v: (str(v["created"]), str(v.get("id", ""))))
    rows = [s.to_dict() for s in ratings(votes, k).values()]
    rows.sort(key=lambda r: (-r["elo"], -r["win_rate"], -r["votes"], r["target"]))
    return rows
