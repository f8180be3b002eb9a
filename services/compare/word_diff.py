"""Word-level diff of two answers (difflib over whitespace-separated words)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class DiffOp:
    """One run of words: equal, delete (only in A), insert (only in B) or replace (A's by B's)."""

    op: str
    a: str = ""
    b: str = ""


def words(text: str) -> list[str]:
    """The words of a text; whitespace differences alone never count as a change."""
    return WORD.findall(text or "")


def word_diff(a: str, b: str) -> list[DiffOp]:
    """The edit script from A's words to B's words, adjacent runs merged by difflib."""
    wa, wb = words(a), words(b)
    # autojunk would treat frequent words ("the") as junk on long answers and misalign them
    matcher = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    out = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        out.append(DiffOp(tag, " ".join(wa[i1:i2]), " ".join(wb[j1:j2])))
    return out


def similarity(a: str, b: str) -> float:
    """Share of words the two answers have in common, 0..1 (1.0 for two empty answers)."""
    wa, wb = words(a), words(b)
    if not wa and not wb:
        return 1.0
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def diff_stats(ops: list[DiffOp]) -> dict:
    """Counts of words kept, removed and added."""
    kept = removed = added = 0
    for op in ops:
        if op.op == "equal":
            kept += len(words(op.a))
        else:
            removed += len(words(op.a))
            added += len(words(op.b))
    return {"kept": kept, "removed": removed, "added": added}
