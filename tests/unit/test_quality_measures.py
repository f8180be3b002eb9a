"""The quality measures: bundled sets validate, KL / top-1 agreement match hand-computed values, loop detection."""

import json
import math

import numpy as np
import pytest

from bench import agreement, answers
from bench.quality import markdown
from services.types import LOCAL_REPETITION_PENALTY, GenerationParams


def test_bundled_sets_validate_and_are_big_enough():
    passages = answers.load_text_set()
    assert sum(len(p["text"].split()) for p in passages) >= 1200  # about 1,900 tokens of the model
    items = answers.load_instructions()
    assert len(items) >= 30
    assert len({it["id"] for it in items}) == len(items)


def test_a_bad_set_is_named_in_one_sentence(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"items": [{"id": "x", "prompt": "Say hi."}]}))
    with pytest.raises(ValueError, match="item 'x' has no check"):
        answers.load_instructions(bad)
    bad.write_text(json.dumps({"items": [{"id": "x", "prompt": "Hi", "any": "hello"}]}))
    with pytest.raises(ValueError, match="'any' must be a non-empty list"):
        answers.load_instructions(bad)
    bad.write_text(json.dumps({"passages": [{"id": "a", "text": " "}]}))
    with pytest.raises(ValueError, match="empty text"):
        answers.load_text_set(bad)


def test_kl_and_top1_match_a_hand_computed_case():
    ref = np.array([[0.0, 0.0, -50.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    cand = np.array([[math.log(3), 0.0, -50.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    kl = agreement.kl_per_position(ref, cand)
    # row 1: P = (1/2, 1/2), Q = (3/4, 1/4): 1/2 ln(2/3) + 1/2 ln 2
    assert kl[0] == pytest.approx(0.5 * math.log(2 / 3) + 0.5 * math.log(2), abs=1e-6)  # the logits are float32
    assert kl[1] == pytest.approx(0.0, abs=1e-12)
    e = math.e
    p = np.array([1, e, 1]) / (2 + e)
    q = np.array([e, 1, 1]) / (2 + e)
    assert kl[2] == pytest.approx(float((p * np.log(p / q)).sum()), abs=1e-6)  # the logits are float32
    agg = agreement.Agreement()
    agg.add(ref[:2], cand[:2])
    agg.add(ref[2:], cand[2:])
    s = agg.summary()
    assert s["positions"] == 3 and s["top1"] == pytest.approx(2 / 3)
    assert s["kl_mean"] == pytest.approx(float(kl.mean()))


def test_kl_refuses_logits_of_different_shapes():
    with pytest.raises(ValueError, match="logit shapes differ"):
        agreement.kl_per_position(np.zeros((2, 3)), np.zeros((2, 4)))


def test_answer_checks():
    assert answers.passes({"any": ["Paris"]}, "The capital of France is Paris.")
    assert not answers.passes({"any": ["Paris"]}, "It is Parisian.")  # whole words only
    assert answers.passes({"any": ["H2O", "H₂O"]}, "Water is H₂O.")
    assert answers.passes({"all": ["red", "blue"]}, "Red, yellow and blue.")
    assert not answers.passes({"all": ["red", "blue"]}, "Red and yellow.")
    assert answers.passes({"lines": 3}, "Waves fold in\n\nsalt wind hums\nthe sea sleeps")
    assert not answers.passes({"lines": 3}, "One line only.")


def test_a_loop_is_a_repeated_ngram_at_the_token_limit():
    looping = "The capital of France is Paris, " + "the capital of France, " * 12
    assert answers.repeated_ngram(looping) is not None
    assert answers.looped(looping, "length")
    assert not answers.looped(looping, "stop")  # it stopped: repetitive, not a loop to the limit
    assert not answers.looped("A long varied answer that simply ran out of room at the end", "length")


def test_markdown_table_has_one_row_per_variant_and_names_errors():
    result = {"mode": "quick", "cores": 2, "load_before": 1.0, "load_after": 1.2, "seconds": 9.0, "rows": [
        {"name": "ONNX a", "decode_tps": 100.0, "decode_min": 90.0, "decode_max": 110.0, "top1": 0.97,
         "kl_mean": 0.003, "kl_p99": 0.02, "answers": {"n": 10, "passed": 7, "hit_limit": 1, "looped": 0},
         "load": 1.1},
        {"name": "ONNX b", "error": "build failed: no space"}]}
    table = markdown(result)
    assert "| ONNX a | 100.0 (90.0-110.0) | 0.970 | 0.0030 | 0.0200 | 7/10 | 1 (0) | 1.1 |" in table
    assert "| ONNX b | error: build failed: no space |" in table


def test_repetition_penalty_defaults_to_the_runtime_value_unless_set():
    p = GenerationParams()
    assert p.repetition_penalty is None
    assert p.penalty(local=True) == LOCAL_REPETITION_PENALTY == 1.1
    assert p.penalty(local=False) == 1.0
    set_one = GenerationParams(repetition_penalty=1.0)
    assert set_one.penalty(local=True) == 1.0
    assert GenerationParams.from_dict({"repetition_penalty": None}).penalty() == 1.1
    assert GenerationParams.from_dict(p.to_dict()) == p  # stored conversations keep "not set"
