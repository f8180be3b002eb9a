"""Compare without a model: spec checks, the fair-speed plan, failing columns, word diff, CLI errors."""

import json

import pytest

from services.compare import run as compare
from services.compare.run import CompareSpec, plan, run_compare
from services.errors import BadRequest
from services.types import GenerationParams
from services.compare.word_diff import diff_stats, similarity, word_diff

ONNX = "onnx:smollm2-135m-instruct"
HF = "transformers:smollm2-135m-instruct"


def test_spec_needs_two_to_four_targets_and_a_prompt():
    with pytest.raises(BadRequest, match="2 to 4 targets; 1 given"):
        CompareSpec.build("hi", [ONNX])
    with pytest.raises(BadRequest, match="2 to 4 targets; 5 given"):
        CompareSpec.build("hi", [ONNX] * 5)
    with pytest.raises(BadRequest, match="prompt is empty"):
        CompareSpec.build("   ", [ONNX, HF])
    with pytest.raises(BadRequest, match="backend:model"):
        CompareSpec.build("hi", [ONNX, "nocolon"])


def test_shared_and_per_target_params():
    shared = CompareSpec.build("hi", [ONNX, HF], GenerationParams(temperature=0, max_tokens=8))
    assert shared.params == (GenerationParams(temperature=0, max_tokens=8),) * 2
    assert shared.shared_params
    per = CompareSpec.build("hi", [ONNX, HF], [GenerationParams(max_tokens=8), GenerationParams(max_tokens=9)])
    assert [p.max_tokens for p in per.params] == [8, 9]
    assert not per.shared_params
    with pytest.raises(BadRequest, match="one set of parameters per target: 2 targets, 1 sets"):
        CompareSpec.build("hi", [ONNX, HF], [GenerationParams()])


def test_messages_carry_system_prompt_and_the_same_images():
    from services.types import ImagePart

    img = ImagePart(b"\x89PNG\r\n\x1a\nxx", "image/png", "a.png")
    spec = CompareSpec.build("What is this?", [ONNX, HF], system="Be brief.", images=[img])
    msgs = spec.messages()
    assert [m.role for m in msgs] == ["system", "user"]
    assert msgs[1].images == (img,)
    assert CompareSpec.build("hi", [ONNX, HF]).messages()[0].role == "user"


def test_local_targets_run_one_after_another_unless_asked():
    spec = CompareSpec.build("hi", [ONNX, "nosuch:model", HF])
    # both local runtimes in one thread, in the order given; the unknown one on its own
    assert plan(spec) == [[0, 2], [1]]
    together = CompareSpec.build("hi", [ONNX, "nosuch:model", HF], concurrent_local=True)
    assert plan(together) == [[0], [2], [1]]


def test_unknown_targets_become_error_entries_in_order():
    spec = CompareSpec.build("hi", ["nosuch:model-a", "nosuch:model-b"])
    run = run_compare(spec)
    assert [r.target for r in run.results] == ["nosuch:model-a", "nosuch:model-b"]
    for r in run.results:
        assert r.status == "error" and not r.ok
        assert "Unknown target nosuch:model" in r.error
        assert r.to_json() == {"target": r.target, "error": r.error}
    assert run.wall_s is not None and run.finished


def test_speed_summary_ratio_against_the_fastest():
    a = compare.ColumnResult(0, "x:a", GenerationParams(), status="done", metrics={"decode_tokens_per_s": 80.0})
    b = compare.ColumnResult(1, "x:b", GenerationParams(), status="done", metrics={"decode_tokens_per_s": 20.0})
    c = compare.ColumnResult(2, "x:c", GenerationParams(), status="error", error="down")
    rows = compare.speed_summary([a, b, c])
    assert [(r["target"], r["x_slower"]) for r in rows] == [("x:a", 1.0), ("x:b", 4.0)]


def test_word_diff_ops_and_similarity():
    ops = word_diff("The capital of France is Paris.", "The capital of  France is\nParis, a city.")
    assert [o.op for o in ops] == ["equal", "replace"]
    assert ops[0].a == "The capital of France is"
    assert (ops[1].a, ops[1].b) == ("Paris.", "Paris, a city.")
    assert diff_stats(ops) == {"kept": 5, "removed": 1, "added": 3}
    # whitespace alone is not a difference
    assert [o.op for o in word_diff("a  b\nc", "a b c")] == ["equal"]
    assert similarity("a b c d", "a b c d") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("a b", "c d") == 0.0
    assert [o.op for o in word_diff("", "new words")] == ["insert"]


def test_cli_argument_errors(capsys, tmp_path):
    from services.__main__ import main

    assert main(["compare", "hi", "--target", ONNX]) == 2
    assert "Give 2 to 4 targets" in capsys.readouterr().err
    assert main(["compare", "--target", ONNX, "--target", HF]) == 2
    assert "Give a prompt" in capsys.readouterr().err
    f = tmp_path / "run.json"
    f.write_text("{}")
    assert main(["compare", "hi", "--rerun", str(f)]) == 2
    assert "leave out the prompt" in capsys.readouterr().err
    assert main(["compare", "--rerun", str(tmp_path / "missing.json")]) == 2
    assert "Cannot read run file" in capsys.readouterr().err
    assert main(["compare", "hi", "--target", ONNX, "--target", HF, "--image", str(f)]) == 1
    assert "run.json" in capsys.readouterr().err


def test_cli_json_lists_every_target_in_order_even_when_all_fail(capsys):
    from services.__main__ import main

    rc = main(["compare", "hi", "--target", "nosuch:b", "--target", "nosuch:a", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert [r["target"] for r in out["results"]] == ["nosuch:b", "nosuch:a"]
    assert all(set(r) == {"target", "error"} for r in out["results"])


def test_presets_follow_what_is_available():
    from services.compare.presets import presets
    from services.types import TargetInfo

    def infos(*available, missing=()):
        return [TargetInfo(t, True) for t in available] + [TargetInfo(t, False) for t in missing]

    only_embedded = {p.name: p for p in presets(infos(ONNX, HF))}
    pair = next(p for p in only_embedded.values() if p.name.startswith("One model, two runtimes: embedded"))
    assert pair.targets == (ONNX, HF) and pair.available
    phi = only_embedded["Phi-3 vs Phi-3.5 (mini)"]
    assert not phi.available and "GitHub Models or NVIDIA NIM key" in phi.note

    cloud = presets(infos(ONNX, HF, "ollama:phi3.5", "nim:microsoft/phi-3-mini-4k-instruct",
                          "nim:microsoft/phi-3.5-mini-instruct", "github:microsoft/phi-3-mini-4k-instruct",
                          "github:microsoft/phi-3.5-mini-instruct"))
    by_name = {p.name: p for p in cloud}
    # GitHub first, the same provider on both sides
    assert by_name["Phi-3 vs Phi-3.5 (mini)"].targets == ("github:microsoft/phi-3-mini-4k-instruct",
                                                         "github:microsoft/phi-3.5-mini-instruct")
    # one model on a local runtime and one cloud (not two clouds)
    runtimes = next(p for p in cloud if p.name.startswith("One model, two runtimes: Phi-3.5-mini"))
    assert runtimes.targets == ("ollama:phi3.5", "github:microsoft/phi-3.5-mini-instruct")


def test_cli_leaderboard_from_stored_votes(monkeypatch, tmp_path, capsys):
    from services.__main__ import main
    from services.conversations.store import open_store

    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "votes.db"))
    assert main(["compare", "--leaderboard"]) == 0
    assert "No votes yet" in capsys.readouterr().out
    db = open_store()
    db.add_vote(None, "x:a", "x:b", "a")
    db.add_vote(None, "x:b", "x:a", "both_bad")
    assert main(["compare", "--leaderboard", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["leaderboard"]
    assert [(r["target"], r["votes"], r["wins"], r["both_bad"]) for r in rows] == [("x:a", 2, 1, 1), ("x:b", 2, 0, 1)]
    assert rows[0]["elo"] > 1000 > rows[1]["elo"]
