"""Final-answer extraction, answer matching, majority voting and prompt building (no model)."""

import pytest

from services.errors import BadRequest
from services.reasoning.methods import (
    PRESETS,
    build_messages,
    canonical,
    extract_answer,
    is_correct,
    majority_vote,
    sample_params,
)
from services.types import GenerationParams

# (model-style reply, expected extracted answer, expected method)
EXTRACTION = [
    ("First 4*3 = 12, then 5*2 = 10.\n12 + 10 = 22.\nAnswer: 22", "22", "explicit"),
    ("Step 1: ...\n**Answer:** $1,200.", "1,200", "explicit"),
    ("Answer: 7\nWait, I made a mistake.\nAnswer: 8", "8", "explicit"),
    ("Final answer: Friday.", "Friday", "explicit"),
    ("The final answer is: 3.6 hours\n", "3.6 hours", "explicit"),
    ("So we get \\boxed{120} square centimetres.", "120", "boxed"),
    ("Let me think. The answer is Cara, since she is above Dev.", "Cara", "phrase"),
    ("Adding them up: 4 + 8 - 15 + 16 - 23 + 42 gives 32 in the end", "32", "number"),
    ("She pays 24 dollars out of 54 overall, so 24.", "24", "number"),
    ("no", "no", "short"),
    ("Adding it all up, the answer is 2,418. Done.", "2,418", "phrase"),
    ("**red**", "red", "short"),
    ("I am not sure how to solve this problem at all, sorry.", None, "none"),
    ("", None, "none"),
    ("answer = -4", "-4", "explicit"),
    ("  > Answer: `nit`", "nit", "explicit"),
]


@pytest.mark.parametrize("reply,answer,method", EXTRACTION)
def test_extract_answer(reply, answer, method):
    found = extract_answer(reply)
    assert (found.answer, found.method) == (answer, method)


@pytest.mark.parametrize("predicted,expected,kind,accept,ok", [
    ("22", "22", "number", (), True),
    ("$22.00", "22", "number", (), True),
    ("1,200", "1200", "number", (), True),
    ("18/5", "3.6", "number", (), True),
    ("3.6 hours", "3.6", "number", (), True),
    ("3.5", "3.6", "number", (), False),
    ("36 stickers", "36", "number", (), True),
    ("first", "1", "number", ("first", "1st"), True),
    ("Friday.", "Friday", "text", (), True),
    ("It will be Friday", "Friday", "text", (), True),
    ("Thursday", "Friday", "text", (), False),
    ("No", "no", "text", (), True),
    ("not sure, maybe no or yes", "no", "text", (), False),
    ("12:15", "12:15", "text", (), True),
    ("12:50", "12:15", "text", (), False),
    ("12:15 pm", "12:15", "text", (), True),
    ("09:40", "9:40", "text", (), True),
    (None, "22", "number", (), False),
])
def test_is_correct(predicted, expected, kind, accept, ok):
    assert is_correct(predicted, expected, kind, accept) is ok


def test_canonical_groups_equal_answers():
    assert canonical("$1,200") == canonical("1200") == "1200"
    assert canonical("3.60") == canonical("18/5") == "3.6"
    assert canonical("Friday.") == canonical("friday") == "friday"
    assert canonical("12:15") == "12:15"
    assert canonical(None) is None


def test_majority_vote_clear_winner():
    vote = majority_vote(["22", "22.0", "$22", "21", None])
    assert vote.winner == "22"
    assert vote.counts == {"22": 3, "21": 1}
    assert vote.agreement == 0.6
    assert vote.tied == ()
    assert vote.abstained == 1


def test_majority_vote_tie_is_reported_and_first_seen_wins():
    vote = majority_vote(["blue", "red", "red", "blue", "green"])
    assert vote.tied == ("blue", "red")
    assert vote.winner == "blue"
    assert vote.agreement == 0.4
    assert majority_vote(["red", "blue"]).winner == "red"


def test_majority_vote_with_no_answers():
    vote = majority_vote([None, None])
    assert vote.winner is None and vote.agreement == 0.0 and vote.abstained == 2


def test_build_messages_asks_for_answer_line():
    msgs = build_messages("What is 2+2?", "math", step_by_step=True, system="Be brief.")
    assert [m.role for m in msgs] == ["system", "user"]
    assert "Answer:" in msgs[0].content and "step by step" in msgs[0].content
    assert msgs[0].content.startswith("Be brief.")
    direct = build_messages("What is 2+2?", "logic", step_by_step=False)
    assert "step by step" not in direct[0].content and "answer only" in direct[0].content
    assert set(PRESETS) == {"math", "logic", "code"}


def test_build_messages_rejects_bad_input():
    with pytest.raises(BadRequest, match="empty"):
        build_messages("   ")
    with pytest.raises(BadRequest, match="Unknown preset"):
        build_messages("hi", "poetry")


def test_sample_params_vary_seed_and_need_temperature():
    base = GenerationParams(temperature=0.0, seed=5, max_tokens=64)
    p = sample_params(base, 3, 0.8, 2)
    assert (p.temperature, p.seed, p.max_tokens) == (0.8, 7, 64)
    assert sample_params(base, 1, None, 0).temperature == 0.0
    with pytest.raises(BadRequest, match="temperature above 0"):
        sample_params(base, 3, None, 0)


def test_consistency_answer_keeps_the_samples_spelling():
    from services.reasoning.methods import Consistency, Sample

    res = Consistency("t:m", "q", [Sample("", a, "explicit", 1.0, 3, "stop") for a in ("$1,200", "1200", "7")])
    res.vote = majority_vote([s.answer for s in res.samples])
    assert res.vote.winner == "1200" and res.answer == "$1,200"
    assert res.to_dict()["answer"] == "$1,200"
