"""Finished compare runs kept in the store as run files, blind votes on them, and the Elo table they make."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from services.compare import elo, runfile
from services.compare.run import CompareRun
from services.conversations.store import open_store
from services.errors import PlaygroundError

KIND = "compare"


@dataclass
class Saved:
    """A run's file content (with its store id once saved) and why it was not saved, if it was not."""

    run: dict
    blind: bool = False
    problem: str = ""
    voted: str | None = None


def _store(path: str | Path | None):
    # imported here: the store opens a file, which a page that never saves should not pay for
    return open_store(path)


def keep_payload(run: dict, *, blind: bool = False, path: str | Path | None = None) -> Saved:
    """Store a run file's content under the "compare" kind; its id goes into it. Never raises a
    PlaygroundError: a store that cannot be used becomes Saved.problem (the run stays in memory)."""
    run.setdefault("votes", [])
    try:
        run["id"] = _store(path).save_run(KIND, run)
    except PlaygroundError as exc:
        return Saved(run, blind, f"This run was not saved: {exc.user_message()}")
    return Saved(run, blind)


def keep(compare: CompareRun, *, blind: bool = False, path: str | Path | None = None) -> Saved:
    """Close a finished (or stopped) comparison and keep it: its run file, saved in the store."""
    compare.close()
    return keep_payload(runfile.run_from(compare), blind=blind, path=path)


def load(run_id: str, *, path: str | Path | None = None) -> dict | None:
    """A stored run's file content (with its id), or None when there is no such run."""
    row = _store(path).get_run(run_id)
    if row is None or row["kind"] != KIND:
        return None
    return {**row["payload"], "id": row["id"]}


def recent(limit: int = 20, *, path: str | Path | None = None) -> list[dict]:
    """Stored runs, newest first (file content with ids)."""
    return [{**r["payload"], "id": r["id"]} for r in _store(path).list_runs(KIND, limit)]


def vote(saved: Saved, outcome: str, *, path: str | Path | None = None) -> str:
    """Record a blind vote on the first two columns, in the store and in the run; returns a sentence
    when the store could not take it ("" when it did)."""
    a, b = (r["target"] for r in saved.run["results"][:2])
    problem = ""
    try:
        _store(path).add_vote(saved.run.get("id"), a, b, outcome)
    except PlaygroundError as exc:
        problem = f"The vote was not saved: {exc.user_message()}"
    saved.voted = outcome
    saved.run.setdefault("votes", []).append({"target_a": a, "target_b": b, "outcome": outcome,
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return problem


def leaderboard(*, path: str | Path | None = None) -> tuple[list[dict], str]:
    """The Elo table from every stored vote, and a sentence when the store cannot be read."""
    try:
        return elo.leaderboard(_store(path).list_votes()), ""
    except PlaygroundError as exc:
        return [], f"Runs and votes cannot be saved: {exc.user_message()}"
