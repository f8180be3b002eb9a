"""Elo updates against hand-computed sequences, ties, both-bad, and where order does not matter."""

import itertools
import math

import pytest

from services.compare import elo


def vote(a, b, outcome, created=0.0):
    return {"target_a": a, "target_b": b, "outcome": outcome, "created": created}


def test_expected_score_hand_values():
    assert elo.expected(1000, 1000) == 0.5
    # 400 points ahead: 10:1 odds
    assert elo.expected(1400, 1000) == pytest.approx(10 / 11)
    assert elo.expected(1000, 1400) == pytest.approx(1 / 11)


def test_hand_computed_sequence():
    # 1) A beats B from 1000/1000: E=0.5, delta = 32 * 0.5 = 16
    # 2) B beats A at 1016/984: E_B = 1/(1+10^(32/400)) = 0.4540782..., B gains 32*(1-E_B) = 17.4695...
    # 3) A and C tie at 998.5305/1000: E_A = 1/(1+10^((1000-998.5305)/400)) = 0.4978853..., A gains 32*(0.5-E_A)
    votes = [vote("A", "B", "a"), vote("B", "A", "a"), vote("A", "C", "tie")]
    e_b = 1 / (1 + 10 ** (32 / 400))
    gain_b = 32 * (1 - e_b)
    assert gain_b == pytest.approx(17.46950, abs=1e-4)
    a_after_2 = 1016 - gain_b
    e_a3 = 1 / (1 + 10 ** ((1000 - a_after_2) / 400))
    gain_a3 = 32 * (0.5 - e_a3)
    table = elo.ratings(votes)
    assert table["B"].elo == pytest.approx(984 + gain_b)
    assert table["A"].elo == pytest.approx(a_after_2 + gain_a3)
    assert table["C"].elo == pytest.approx(1000 - gain_a3)
    assert table["A"].elo == pytest.approx(998.5982, abs=1e-3)
    assert table["C"].elo == pytest.approx(999.9323, abs=1e-3)


def test_counts_and_win_rate():
    votes = [vote("A", "B", "a"), vote("A", "B", "a"), vote("B", "A", "b"), vote("A", "B", "tie"),
             vote("A", "B", "both_bad")]
    rows = {r["target"]: r for r in elo.leaderboard(votes)}
    assert rows["A"]["votes"] == rows["B"]["votes"] == 5
    # the third vote has A on side B, and outcome "b" means side B won: a win for A
    assert rows["A"]["wins"] == 3 and rows["A"]["losses"] == 0
    assert rows["B"]["wins"] == 0 and rows["B"]["losses"] == 3
    assert rows["A"]["ties"] == 1 and rows["A"]["both_bad"] == 1
    assert rows["A"]["win_rate"] == pytest.approx(0.6)
    assert rows["B"]["win_rate"] == 0.0
    assert [r["target"] for r in elo.leaderboard(votes)] == ["A", "B"]


def test_tie_between_equals_changes_nothing_and_both_bad_is_a_tie():
    assert elo.update(1000, 1000, "tie") == (1000, 1000)
    assert elo.update(1000, 1000, "both_bad") == (1000, 1000)
    # an unequal tie pulls the ratings together, by the same amount as both-bad
    hi, lo = elo.update(1200, 1000, "tie")
    assert hi < 1200 and lo > 1000
    assert (hi, lo) == elo.update(1200, 1000, "both_bad")


def test_side_swap_gives_the_same_ratings():
    # "A on the left wins" and "A on the right wins" are the same event
    left = elo.ratings([vote("A", "B", "a"), vote("C", "A", "tie")])
    right = elo.ratings([vote("B", "A", "b"), vote("A", "C", "tie")])
    for t in "ABC":
        assert left[t].elo == pytest.approx(right[t].elo)


def test_rating_total_is_conserved_and_counts_do_not_depend_on_order():
    votes = [vote("A", "B", "a"), vote("B", "C", "b"), vote("A", "C", "tie"), vote("C", "B", "both_bad"),
             vote("A", "B", "b")]
    first = None
    for perm in itertools.permutations(votes):
        table = elo.ratings(perm)
        assert math.fsum(s.elo for s in table.values()) == pytest.approx(3 * elo.INITIAL)
        counts = {t: (s.votes, s.wins, s.losses, s.ties, s.both_bad) for t, s in table.items()}
        first = first or counts
        assert counts == first


def test_sequential_elo_is_order_dependent_and_replayed_by_created_time():
    # Elo is a running estimate: the same votes in another order give other ratings, so the
    # leaderboard must replay them in the order they were cast, whatever order the list arrives in
    v1, v2 = vote("A", "B", "a", created=1.0), vote("A", "B", "b", created=2.0)
    forward, backward = elo.ratings([v1, v2]), elo.ratings([v2, v1])
    assert forward["A"].elo != pytest.approx(backward["A"].elo)
    assert elo.leaderboard([v2, v1]) == elo.leaderboard([v1, v2])
    assert elo.leaderboard([v1, v2])[0]["elo"] == round(forward["B"].elo, 1)


def test_self_match_and_bad_outcome():
    table = elo.ratings([vote("A", "A", "a")])
    assert table["A"].elo == elo.INITIAL and table["A"].votes == 0
    with pytest.raises(ValueError, match="a, b, tie, both_bad"):
        elo.ratings([vote("A", "B", "left")])


def test_empty_leaderboard():
    assert elo.leaderboard([]) == []
