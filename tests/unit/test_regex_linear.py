"""Every regex in services/, ui/ and app_pages/ is linear: no nested or overlapping quantifiers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from services.reasoning.methods import canonical, extract_answer, parse_number

ROOT = Path(__file__).resolve().parents[2]
FUNCS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
# characters the checker tries against each single-character item (ASCII plus a few that patterns name)
SAMPLE = [chr(i) for i in range(128)] + ["\u00a0", "é", "：", "−", "“"]
_p, _c = re._parser, re._compiler  # the stdlib's own parser: the check sees what the engine runs
UNBOUNDED = _c.MAXREPEAT
REPEATS = {_p.MAX_REPEAT, _p.MIN_REPEAT, _p.POSSESSIVE_REPEAT}
SINGLE = {_p.LITERAL, _p.NOT_LITERAL, _p.ANY, _p.IN}
ZERO_WIDTH = {_p.AT, _p.ASSERT, _p.ASSERT_NOT}


def patterns() -> list[tuple[str, str, int]]:
    """(where, pattern, flags) for every re.* call with a literal pattern under services/, ui/, app_pages/."""
    found = []
    for folder in ("services", "ui", "app_pages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in FUNCS and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "re" and node.args
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    flags = 0
                    for kw in node.keywords:
                        if kw.arg == "flags":
                            flags = _flags(kw.value)
                    if node.func.attr == "compile" and len(node.args) > 1:
                        flags = _flags(node.args[1])
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.args[0].value, flags))
    return found


def _flags(node) -> int:
    if isinstance(node, ast.Attribute):
        return int(getattr(re, node.attr))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    raise AssertionError(f"flags the checker cannot read: {ast.dump(node)}")


class Checker:
    """Flags an unbounded repeat inside another repeat, or one whose characters can also start what follows it."""

    def __init__(self, pattern: str, flags: int = 0):
        self.parsed = _p.parse(pattern, flags)
        self.state = self.parsed.state
        self.problems: list[str] = []
        self._cache: dict[tuple, frozenset] = {}

    def run(self) -> list[str]:
        self.seq(list(self.parsed), frozenset(), inside_repeat=False)
        return self.problems

    def chars(self, item) -> frozenset:
        """Sample characters a single-character item matches."""
        key = (item[0], repr(item[1]))
        if key not in self._cache:
            sub = _p.SubPattern(self.state, [item])
            rx = _c.compile(sub, self.state.flags)
            self._cache[key] = frozenset(c for c in SAMPLE if rx.match(c))
        return self._cache[key]

    def first(self, items) -> tuple[frozenset, bool]:
        """(characters that can start a match of the sequence, whether it can match nothing)."""
        out: frozenset = frozenset()
        for op, av in items:
            f, nullable = self.first_item(op, av)
            out |= f
            if not nullable:
                return out, False
        return out, True

    def first_item(self, op, av) -> tuple[frozenset, bool]:
        if op in SINGLE:
            return self.chars((op, av)), False
        if op in REPEATS:
            f, nullable = self.first(list(av[2]))
            return f, nullable or av[0] == 0
        if op is _p.SUBPATTERN:
            return self.first(list(av[3]))
        if op is _p.ATOMIC_GROUP:
            return self.first(list(av))
        if op is _p.BRANCH:
            outs = [self.first(list(b)) for b in av[1]]
            return frozenset().union(*(f for f, _ in outs)), any(n for _, n in outs)
        if op in ZERO_WIDTH:
            return frozenset(), True
        return frozenset(SAMPLE), True  # group references and the like: assume anything

    def body_chars(self, items) -> frozenset:
        out: frozenset = frozenset()
        for op, av in items:
            if op in SINGLE:
                out |= self.chars((op, av))
            elif op in REPEATS:
                out |= self.body_chars(list(av[2]))
            elif op is _p.SUBPATTERN:
                out |= self.body_chars(list(av[3]))
            elif op is _p.ATOMIC_GROUP:
                out |= self.body_chars(list(av))
            elif op is _p.BRANCH:
                for b in av[1]:
                    out |= self.body_chars(list(b))
        return out

    def seq(self, items, follow: frozenset, inside_repeat: bool) -> None:
        """Check a sequence; `follow` is what may come right after it."""
        for i, (op, av) in enumerate(items):
            rest_first, rest_nullable = self.first(items[i + 1:])
            after = rest_first | (follow if rest_nullable else frozenset())
            if op in REPEATS:
                lo, hi, body = av
                if inside_repeat and hi > 1:
                    self.problems.append(f"nested quantifier {lo},{'∞' if hi == UNBOUNDED else hi}")
                if hi == UNBOUNDED:
                    overlap = self.body_chars(list(body)) & after
                    if overlap:
                        self.problems.append(f"a repeat overlaps what follows it on {sorted(overlap)[:5]}")
                self.seq(list(body), after | self.first(list(body))[0], inside_repeat or hi == UNBOUNDED)
            elif op is _p.SUBPATTERN:
                self.seq(list(av[3]), after, inside_repeat)
            elif op is _p.ATOMIC_GROUP:
                self.seq(list(av), after, inside_repeat)
            elif op is _p.BRANCH:
                for b in av[1]:
                    self.seq(list(b), after, inside_repeat)
            elif op in (_p.ASSERT, _p.ASSERT_NOT):
                self.seq(list(av[1]), frozenset(), inside_repeat)


def test_the_checker_catches_the_classic_shapes():
    # the shapes that backtrack: each must be flagged, or the scan below would prove nothing
    for bad in [r"(a+)+", r"(\w+\s?)*$", r"\s*:?\s*x", r"answer\s*(?:is)?\s*[*_]*\s*[:=]", r"(.+?)\s*$",
                r"\[([^\]]*)\]\(\s*([^)\s]*)[^)]*\)", r"(?i)a\s*(?:b)?\s*"]:
        assert Checker(bad).run(), bad
    for good in [r"\d[\d,]*(?:\.\d+)?", r"\\boxed\{([^{}]+)\}", r"(?i)\b(?:the\s+)?(?:final\s+)?answer\s+is",
                 r"[\s>*_#-]*", r"(?:^|\.)layers\.(\d+)\."]:
        assert not Checker(good).run(), good


def test_the_scan_finds_the_patterns():
    found = {where.split(":")[0] for where, _, _ in patterns()}
    assert "services/reasoning/methods.py" in found and "services/compare/word_diff.py" in found


@pytest.mark.parametrize("where,pattern,flags", patterns(), ids=lambda v: v if isinstance(v, str) and ":" in v
                         and v.endswith(tuple("0123456789")) else "")
def test_every_pattern_is_linear(where, pattern, flags):
    assert Checker(pattern, flags).run() == [], f"{where}: {pattern}"


HOSTILE = [
    "answer" + " " * 100_000 + "x",
    "Answer:" + " " * 100_000 + "\n",
    "the answer is" + " " * 100_000,
    "the final answer" + " " * 100_000 + "is" + " " * 100_000 + ":" + " " * 100_000,
    ("answer is " * 50_000) + ":",
    "**" * 100_000 + "answer" + "*_" * 100_000,
    "\\boxed{" * 50_000,
    "1," * 200_000 + "5",
    "$" + "1" * 200_000 + "." + "2" * 200_000 + "/" + "3" * 100_000,
    "answer = " + "-" * 100_000 + "\n" + "> " * 100_000,
]


@pytest.mark.timeout(5)
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_answer_extraction_finishes_on_hostile_replies(text):
    found = extract_answer(text)
    canonical(found.answer)
    parse_number(text[:1000])


def test_extraction_keeps_its_meaning():
    assert extract_answer("Working...\n**Final answer:** 42").answer == "42"
    assert extract_answer("> Answer = 7 apples\nthen").answer == "7 apples"
    assert extract_answer("so the answer is: Cara, since she is older").answer == "Cara"
    assert extract_answer("the answer is 5, the answer is 6").answer == "5"
    assert extract_answer("Answer:\nthe answer is\n  9 boxes").answer == "9 boxes"
