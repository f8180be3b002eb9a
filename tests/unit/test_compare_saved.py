"""Compare runs kept in the store: saved with an id, loaded back, exported and re-read, votes and the Elo table."""

from __future__ import annotations

from services.compare import runfile, saved
from services.compare.run import ColumnResult, CompareSpec
from services.media.images import prepare_image
from services.types import GenerationParams
from tests.fixtures.media_files import text_image

A, B = "onnx:smollm2-135m-instruct", "transformers:smollm2-135m-instruct"


def _payload() -> dict:
    image = prepare_image("sign.png", text_image("STOP")).part
    spec = CompareSpec.build("Name one planet.", [A, B], GenerationParams(max_tokens=8), images=[image])
    results = [ColumnResult(0, A, spec.params[0]), ColumnResult(1, B, spec.params[1])]
    results[0].text, results[0].status, results[0].finish_reason = "Mars.", "done", "stop"
    results[1].error, results[1].status = "It failed.", "error"
    return runfile.build_run(spec, results, wall_s=1.5)


def test_a_run_saves_loads_and_exports_with_its_id(tmp_path):
    db = tmp_path / "playground.db"
    kept = saved.keep_payload(_payload(), blind=True, path=db)
    assert kept.problem == "" and kept.blind and kept.run["id"]
    again = saved.load(kept.run["id"], path=db)
    assert again["prompt"] == "Name one planet." and [r["text"] for r in again["results"]] == ["Mars.", ""]
    assert again["media"][0]["sha256"] == kept.run["media"][0]["sha256"]
    assert [r["id"] for r in saved.recent(path=db)] == [kept.run["id"]]
    assert saved.load("no-such-run", path=db) is None
    # what the page offers for download reads back and re-runs with the same image
    loaded = runfile.loads(runfile.dumps(kept.run))
    spec = runfile.spec_from_run(loaded)
    assert spec.targets == (A, B) and len(spec.images) == 1 and loaded["id"] == kept.run["id"]


def test_votes_are_stored_and_make_the_elo_table(tmp_path):
    db = tmp_path / "playground.db"
    kept = saved.keep_payload(_payload(), blind=True, path=db)
    assert saved.vote(kept, "a", path=db) == ""
    assert kept.voted == "a" and kept.run["votes"][0]["target_a"] == A
    rows, problem = saved.leaderboard(path=db)
    assert problem == "" and {r["target"]: r["wins"] for r in rows} == {A: 1, B: 0}
    # a wrong outcome is a sentence, not a crash, and the vote list keeps what happened
    assert "not 'maybe'" in saved.vote(kept, "maybe", path=db)
    assert len(saved.leaderboard(path=db)[0]) == 2


def test_a_store_that_cannot_be_used_leaves_the_run_in_memory(tmp_path):
    import sqlite3

    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")  # made by a newer version: left untouched
    conn.close()
    kept = saved.keep_payload(_payload(), path=newer)
    assert kept.problem.startswith("This run was not saved:") and "newer version" in kept.problem
    assert kept.run["results"][0]["text"] == "Mars." and kept.run["id"] is None
    rows, problem = saved.leaderboard(path=newer)
    assert rows == [] and "cannot be saved" in problem
