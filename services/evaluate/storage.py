"""Evaluation runs in the shared SQLite store (the runs table, kind "evaluate"), whole or not at all."""

from __future__ import annotations

from services.conversations.store import open_store
from services.errors import BadRequest, PlaygroundError
from services.evaluate.results import check_record, record

KIND = "evaluate"


def _store(path=None):
    return open_store(path)


def save(rec: dict, path=None) -> str:
    """Store one run in one INSERT (a run is never half-stored); return its id."""
    return _store(path).save_run(KIND, check_record(rec))


def load(run_id: str, path=None) -> dict:
    """A stored run by id, or a sentence saying there is none."""
    got = _store(path).get_run(run_id)
    if got is None or got["kind"] != KIND:
        raise BadRequest(f"There is no stored evaluation run {run_id!r}; `python -m services eval --runs` lists them.")
    rec = got["payload"]
    rec["id"] = got["id"]
    return rec


def recent(limit: int = 50, path=None) -> list[dict]:
    """Stored runs, newest first, each with its id."""
    out = []
    for r in _store(path).list_runs(KIND, limit):
        rec = r["payload"]
        rec["id"] = r["id"]
        out.append(rec)
    return out


def keep(run, path=None) -> tuple[dict, str]:
    """Close a run, make its record and store it; the sentence says why it was not stored ('' when it was)."""
    run.close()
    rec = record(run)
    try:
        rec["id"] = save(rec, path)
    except PlaygroundError as exc:
        return rec, f"This run was not saved: {exc.user_message()}"
    return rec, ""
