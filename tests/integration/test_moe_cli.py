"""`moe` from the shell: a suite on the embedded model, self-consistency, and routing JSON on a tiny MoE."""

import json

import pytest

from services.__main__ import main
from services.evaluate.problem_set import load_problems, run_suite
from services.types import GenerationParams

pytestmark = pytest.mark.integration

EMBEDDED = "onnx:smollm2-135m-instruct"


def run_json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_bundled_set_on_embedded_reports_accuracy(embedded_paths):
    """End to end on three bundled problems per category; accuracy is reported, not asserted
    (the full 30-problem run is `python -m services moe --suite bundled`)."""
    problems = load_problems()
    subset = [p for cat in ("math", "logic", "code") for p in [q for q in problems if q.category == cat][:3]]
    run = run_suite(subset, [EMBEDDED], GenerationParams(temperature=0.0, max_tokens=24), step_by_step=False)
    score = run.scores[EMBEDDED]
    assert score.total == 9 and 0.0 <= score.accuracy <= 1.0
    assert score.completion_tokens > 0 and score.seconds > 0 and score.errors == 0
    assert {o.category for o in run.outcomes} == {"math", "logic", "code"}
    print(f"\n{EMBEDDED}: {score.correct}/{score.total} correct ({score.accuracy:.0%}), "
          f"{score.completion_tokens} tokens, {score.seconds:.1f} s")


def test_suite_cli_json_has_accuracy(embedded_paths, capsys):
    out = run_json(capsys, "moe", "--suite", "bundled", "--target", EMBEDDED, "--limit", "2",
                   "--max-tokens", "16", "--direct", "--no-store", "--json")
    score = out["targets"][EMBEDDED]
    assert score["total"] == 2 and 0.0 <= score["accuracy"] <= 1.0
    assert [o["problem_id"] for o in out["outcomes"]] == ["math-01", "math-02"]
    assert out["run_id"] is None


def test_suite_compares_two_targets(embedded_paths, tiny_phi3, capsys, tmp_path):
    lines = [json.dumps({"id": f"q{i}", "category": "math", "difficulty": "easy", "question": f"What is {i} + {i}?",
                         "answer": str(2 * i), "answer_type": "number"}) for i in range(1, 3)]
    suite = tmp_path / "mini.jsonl"
    suite.write_text("\n".join(lines))
    other = f"transformers:{tiny_phi3}"
    out = run_json(capsys, "moe", "--suite", str(suite), "--target", EMBEDDED, "--target", other,
                   "--max-tokens", "8", "--json")
    assert set(out["targets"]) == {EMBEDDED, other}
    assert all(s["total"] == 2 and "accuracy" in s for s in out["targets"].values())
    assert out["run_id"]  # stored in the database


def test_question_with_samples_votes(embedded_paths, capsys):
    out = run_json(capsys, "moe", "What is 6 times 7?", "--target", EMBEDDED, "--samples", "3",
                   "--temperature", "0.8", "--seed", "1", "--max-tokens", "24", "--json")
    assert len(out["samples"]) == 3
    if out["vote"]["winner"] is not None:
        assert out["answer"] in [s["answer"] for s in out["samples"]]
    assert 0.0 <= out["agreement"] <= 1.0
    assert sum(out["votes"].values()) + out["vote"]["abstained"] == 3


def test_question_with_routing_json(tiny_phimoe, capsys):
    out = run_json(capsys, "moe", "Phi-3 routes tokens?", "--target", f"transformers:{tiny_phimoe}",
                   "--routing", "--max-tokens", "4", "--json")
    rows = out["routing"]
    assert rows and all(set(r) >= {"token", "layer", "experts", "weights"} for r in rows)
    assert all(len(r["experts"]) == len(r["weights"]) == 2 for r in rows)
    assert {r["layer"] for r in rows} == {0, 1}
    assert len(rows) == 2 * len({r["position"] for r in rows})
    stats = out["routing_stats"]
    assert [s["layer"] for s in stats["layers"]] == [0, 1]
    assert all(0 <= s["entropy_norm"] <= 1 and s["load_cv"] >= 0 and s["n_experts"] == 4 for s in stats["layers"])
    assert stats["specialisation"] and all(len(x["top_tokens"]) <= 5 for x in stats["specialisation"])
    model = out["routing_model"]
    assert model["model_type"] == "phimoe" and model["random_weights"] and model["active_params"] < model["total_params"]


def test_routing_vs_a_second_prompt_and_the_text_report(tiny_phimoe, capsys):
    out = run_json(capsys, "moe", "What is 2+2?", "--target", f"transformers:{tiny_phimoe}", "--routing",
                   "--routing-vs", "Write a haiku.", "--max-tokens", "3", "--json")
    assert out["routing_vs"]["routing"] and out["routing_vs"]["routing_stats"]["layers"]
    assert [d["layer"] for d in out["routing_difference"]] == [0, 1]
    assert all(0 <= d["distance"] <= 1 for d in out["routing_difference"])
    assert main(["moe", "What is 2+2?", "--target", f"transformers:{tiny_phimoe}", "--routing",
                 "--max-tokens", "3"]) == 0
    text = capsys.readouterr().out
    assert "note: These weights are random" in text and "entropy" in text and "load CV" in text


def test_routing_vs_needs_routing(tiny_phimoe, capsys):
    assert main(["moe", "hi", "--target", f"transformers:{tiny_phimoe}", "--routing-vs", "b"]) == 2
    assert "add --routing" in capsys.readouterr().err


def test_routing_on_dense_target_is_refused(embedded_paths, capsys):
    assert main(["moe", "hi", "--target", EMBEDDED, "--routing"]) == 2
    assert "no expert routers" in capsys.readouterr().err


def test_bad_suite_file(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    assert main(["moe", "--suite", str(bad), "--target", EMBEDDED]) == 2
    assert "line 1" in capsys.readouterr().err
