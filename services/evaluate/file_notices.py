"""What a prompt file's reader noticed but did not refuse: ignored keys (with near misses), placeholders
left as written, settings the reference would read differently; each kind said once per file."""

from __future__ import annotations

from collections.abc import Iterable

# a key this close to a known one (edits, case ignored) is named as a likely typo
NEAR_EDITS_LONG = 2  # keys of 6 characters or more
NEAR_EDITS_SHORT = 1
# keys longer than this are never compared (the edit distance grows with the product of lengths)
MAX_COMPARED_CHARS = 64
# at most this many places are listed in one sentence
MAX_LISTED = 12
# at most this many unknown keys per file are compared with the known ones (a file may hold thousands of
# unknown top-level keys; each comparison costs up to 64 x 20 steps)
MAX_COMPARED_KEYS = 200


def edits(a: str, b: str) -> int:
    """Edits (insert, delete, change, swap two neighbours) turning a into b."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def near_miss(key: str, known: Iterable[str]) -> str | None:
    """The known key this one was probably meant to be, or None."""
    low = key.lower()
    if len(low) > MAX_COMPARED_CHARS:
        return None
    best, best_d = None, None
    for k in known:
        d = edits(low, k.lower())
        limit = NEAR_EDITS_LONG if len(k) >= 6 else NEAR_EDITS_SHORT
        if d <= limit and (best_d is None or d < best_d):
            best, best_d = k, d
    return best


def _listed(items: list[str], total: int) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {total - MAX_LISTED:,} more" if total > MAX_LISTED else "")


class Notes:
    """Collects what one file's reading noticed; `sentences()` says each kind once."""

    def __init__(self):
        self.ignored: list[str] = []
        self.ignored_count = 0
        self.compared = 0
        self.typos: list[tuple[str, str]] = []
        self.other: list[str] = []

    def keys(self, mapping: dict, known: Iterable[str], where: str = "") -> None:
        """Note every key of `mapping` the reference's structs do not have (it ignores them)."""
        known = tuple(known)
        for key in mapping:
            if key in known:
                continue
            place = f"{where}.{key}" if where else str(key)
            self.compared += 1
            guess = near_miss(str(key), known) if self.compared <= MAX_COMPARED_KEYS else None
            if guess:
                self.typos.append((place, guess))
                continue
            self.ignored_count += 1
            if len(self.ignored) < MAX_LISTED:
                self.ignored.append(place[:80])

    def add(self, sentence: str) -> None:
        """Any other notice, once."""
        if sentence not in self.other:
            self.other.append(sentence)

    def sentences(self) -> list[str]:
        out = []
        for place, guess in self.typos[:MAX_LISTED]:
            out.append(f"`{place}`: did you mean `{guess}`? As written it is ignored (gh models eval ignores it too).")
        if self.ignored:
            out.append(f"Ignored, as gh models eval ignores keys it does not know: "
                       f"{_listed(self.ignored, self.ignored_count)}.")
        return out + self.other
