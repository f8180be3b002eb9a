"""Compare and reasoning runs (JSON payloads) and blind A/B votes: the part of the Store other pages use."""

from __future__ import annotations

import json
import time
import uuid

from services.errors import BadRequest

OUTCOMES = ("a", "b", "tie", "both_bad")


class RunsAndVotes:
    """Mixed into Store, which supplies _tx() and _read()."""

    def save_run(self, kind: str, payload: dict) -> str:
        """Store one run's JSON payload under a kind ("compare", "reasoning"); return its new id."""
        if not isinstance(kind, str) or not kind.strip():
            raise BadRequest("A run needs a kind, for example compare or reasoning.")
        run_id = uuid.uuid4().hex
        with self._tx() as c:
            c.execute("INSERT INTO runs(id, kind, created, payload) VALUES (?,?,?,?)",
                      (run_id, kind, time.time(), json.dumps(payload, ensure_ascii=False)))
        return run_id

    @staticmethod
    def _run(row) -> dict:
        return {"id": row["id"], "kind": row["kind"], "created": row["created"], "payload": json.loads(row["payload"])}

    def get_run(self, run_id: str) -> dict | None:
        """One run, or None."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return self._run(rows[0]) if rows else None

    def list_runs(self, kind: str, limit: int = 50) -> list[dict]:
        """Runs of one kind, newest first."""
        rows = self._read("SELECT * FROM runs WHERE kind = ? ORDER BY created DESC, rowid DESC LIMIT ?",
                          (kind, int(limit)))
        return [self._run(r) for r in rows]

    def add_vote(self, run_id: str | None, target_a: str, target_b: str, outcome: str) -> int:
        """Record one blind A/B vote; outcome is a, b, tie or both_bad."""
        if outcome not in OUTCOMES:
            raise BadRequest(f"A vote is one of {', '.join(OUTCOMES)}, not {outcome!r}.")
        with self._tx() as c:
            cur = c.execute("INSERT INTO votes(run_id, target_a, target_b, outcome, created) VALUES (?,?,?,?,?)",
                            (run_id, target_a, target_b, outcome, time.time()))
            return int(cur.lastrowid)

    def list_votes(self) -> list[dict]:
        """Every vote, oldest first."""
        rows = self._read("SELECT id, run_id, target_a, target_b, outcome, created FROM votes ORDER BY id")
        return [dict(r) for r in rows]
