"""The bundled sets (text passages, short instructions): loading, schema checks, answer checks, loop detection."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TEXT_SET = DATA / "quality_text.json"
INSTRUCTION_SET = DATA / "instructions.json"
# an answer that hit the token limit and repeats a word n-gram this often is counted as a loop
LOOP_NGRAM, LOOP_TIMES = 5, 3
CHECK_KEYS = {"id", "prompt", "any", "all", "lines"}
# words: runs of letters/digits (one class, one quantifier: linear)
_WORD = re.compile(r"[^\W_]+")


def _fail(where: str, msg: str) -> ValueError:
    return ValueError(f"{where}: {msg}")


def load_text_set(path: Path = TEXT_SET) -> list[dict]:
    """Passages for teacher forcing; each has a unique id and non-empty text."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    passages = data.get("passages")
    if not isinstance(passages, list) or not passages:
        raise _fail(path.name, "needs a non-empty 'passages' list")
    seen = set()
    for i, p in enumerate(passages):
        if not isinstance(p, dict) or set(p) != {"id", "text"}:
            raise _fail(path.name, f"passage {i} must have exactly 'id' and 'text'")
        if not isinstance(p["text"], str) or not p["text"].strip() or p["id"] in seen:
            raise _fail(path.name, f"passage {p['id']!r} has empty text or a duplicate id")
        seen.add(p["id"])
    return passages


def load_instructions(path: Path = INSTRUCTION_SET) -> list[dict]:
    """Short instructions, each with at least one check (any / all keywords, an exact line count)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise _fail(path.name, "needs a non-empty 'items' list")
    seen = set()
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not {"id", "prompt"} <= set(it) or set(it) - CHECK_KEYS:
            raise _fail(path.name, f"item {i} needs 'id' and 'prompt' and only keys {sorted(CHECK_KEYS)}")
        if it["id"] in seen or not isinstance(it["prompt"], str) or not it["prompt"].strip():
            raise _fail(path.name, f"item {it['id']!r} has an empty prompt or a duplicate id")
        seen.add(it["id"])
        if not ({"any", "all", "lines"} & set(it)):
            raise _fail(path.name, f"item {it['id']!r} has no check (any, all or lines)")
        for key in ("any", "all"):
            words = it.get(key, ["x"])
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                raise _fail(path.name, f"item {it['id']!r}: '{key}' must be a non-empty list of strings")
        if "lines" in it and (not isinstance(it["lines"], int) or it["lines"] < 1):
            raise _fail(path.name, f"item {it['id']!r}: 'lines' must be a positive whole number")
    return items


def _has(text_words: set[str], text: str, needle: str) -> bool:
    """Whole-word match for plain words, substring match for anything with symbols (H2O, H₂O)."""
    n = needle.lower()
    return n in text_words if _WORD.fullmatch(n) else n in text.lower()


def passes(item: dict, answer: str) -> bool:
    """True when the answer meets every check the item sets."""
    words = set(_WORD.findall(answer.lower()))
    if "any" in item and not any(_has(words, answer, w) for w in item["any"]):
        return False
    if "all" in item and not all(_has(words, answer, w) for w in item["all"]):
        return False
    if "lines" in item and len([ln for ln in answer.splitlines() if ln.strip()]) != item["lines"]:
        return False
    return True


def repeated_ngram(text: str, n: int = LOOP_NGRAM, times: int = LOOP_TIMES) -> str | None:
    """The most repeated word n-gram when it occurs at least `times` times, else None (linear in the text)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return None
    counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    gram, count = counts.most_common(1)[0]
    return " ".join(gram) if count >= times else None


def looped(answer: str, finish: str | None) -> bool:
    """Hit the token limit while repeating itself: the failure the sampling defaults must prevent."""
    return finish == "length" and repeated_ngram(answer) is not None
