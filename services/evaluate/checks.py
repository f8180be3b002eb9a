"""The evaluators that need no model: string, regex, JSON, JSON schema, numeric and final answer."""

from __future__ import annotations

import json
from dataclasses import dataclass

import regex

from services.errors import BadRequest
from services.reasoning.methods import extract_answer, is_correct, parse_number
from services.structured.bounded_schema import PatternCutOff, UncheckableSchema, iter_errors

# a user's pattern may backtrack badly: the `regex` package stops it after this long, and it only
# ever sees this much of an answer
REGEX_TIMEOUT_S = 1.0
MAX_REGEX_INPUT = 20_000


@dataclass(frozen=True)
class Verdict:
    """What one evaluator decided: score (None when it could not decide), passed, and why."""

    score: float | None
    passed: bool
    details: str
    # "pass", "fail", or "unscored" (a judge reply that matched no choice, a call that failed)
    status: str = ""

    def __post_init__(self):
        if not self.status:
            object.__setattr__(self, "status", "unscored" if self.score is None else
                               "pass" if self.passed else "fail")


def binary(ok: bool, details: str) -> Verdict:
    """Score 1 and passed, or score 0 and failed."""
    return Verdict(1.0 if ok else 0.0, ok, details)


def short(text: str, n: int = 80) -> str:
    """A value quoted in details, cut to n characters."""
    text = text if len(text) <= n else text[: n - 1] + "…"
    return repr(text)


def string_check(op: str, value: str, completion: str) -> Verdict:
    """GitHub's rules: equals is exact and case-sensitive; the other three ignore case."""
    low, want = completion.lower(), value.lower()
    if op == "equals":
        return binary(completion == value, f"Expected exact match: {short(value)}")
    if op == "contains":
        return binary(want in low, f"Expected to contain: {short(value)}")
    if op == "startsWith":
        return binary(low.startswith(want), f"Expected to start with: {short(value)}")
    return binary(low.endswith(want), f"Expected to end with: {short(value)}")


def compile_pattern(pattern: str, ignore_case: bool, where: str = "the pattern"):
    """The user's pattern, compiled once; a broken one is a sentence naming the place."""
    try:
        return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except regex.error as exc:
        raise BadRequest(f"{where} pattern is not a valid regular expression ({exc}).") from None


def regex_check(pattern: str, ignore_case: bool, completion: str) -> Verdict:
    """Passes when the pattern is found; a pattern that runs too long is unscored, not failed."""
    compiled = compile_pattern(pattern, ignore_case)
    text = completion[:MAX_REGEX_INPUT]
    try:
        found = compiled.search(text, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        return Verdict(None, False, f"The pattern ran longer than {REGEX_TIMEOUT_S:g} s on this answer and was "
                                    "stopped; simplify it (nested repeats such as (a+)+ backtrack).")
    cut = " (first 20,000 characters)" if len(completion) > MAX_REGEX_INPUT else ""
    if found:
        return binary(True, f"Pattern {short(pattern, 60)} found: {short(found.group(0), 60)}{cut}")
    return binary(False, f"Pattern {short(pattern, 60)} not found{cut}")


def parse_json(completion: str):
    """The answer as JSON, allowing one code fence around it; returns (value, note) or raises ValueError."""
    text, note = completion.strip(), ""
    # one fenced block around the whole answer (small models wrap JSON in ```json ... ```); plain
    # string operations, no pattern, so any input takes linear time
    if text.startswith("```") and text.endswith("```") and "\n" in text and len(text) > 6:
        first_line_end = text.index("\n")
        if text[3:first_line_end].strip().isalnum() or not text[3:first_line_end].strip():
            text, note = text[first_line_end + 1:-3], " (inside a code fence)"
    try:
        return json.loads(text), note
    except RecursionError:  # the C parser's stack guard, for arrays or objects thousands deep
        raise ValueError("it nests too deeply to read") from None


def json_check(completion: str) -> Verdict:
    """Passes when the whole answer is JSON."""
    try:
        value, note = parse_json(completion)
    except ValueError as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return binary(False, f"Not valid JSON: {msg}")
    return binary(True, f"Valid JSON {type(value).__name__}{note}")


def check_schema(schema, where: str) -> None:
    """A JSON schema that is itself valid, or one sentence saying where it is not."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, (dict, bool)):
        raise BadRequest(f"{where} schema must be a JSON object.")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise BadRequest(f"{where} schema is not a valid JSON schema ({exc.message}).") from None


def schema_check(schema, completion: str) -> Verdict:
    """Passes when the answer is JSON that the schema accepts; details name the first problem.

    The schema's pattern and patternProperties run under a time limit; a check cut off is unscored.
    """
    from jsonschema.exceptions import ValidationError

    try:
        value, note = parse_json(completion)
    except ValueError as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return binary(False, f"Not valid JSON: {msg}")
    try:
        errors = sorted(iter_errors(schema, value), key=lambda e: list(e.path))
    except (PatternCutOff, UncheckableSchema) as exc:
        return Verdict(None, False, f"Not checked: {exc}.")
    except ValidationError as exc:  # a pattern the regex engine cannot read
        return Verdict(None, False, f"Not checked: {exc.message}.")
    if not errors:
        return binary(True, f"Matches the schema{note}")
    first = errors[0]
    at = "/".join(str(p) for p in first.path) or "(root)"
    return binary(False, f"{len(errors)} schema error(s); first at {at}: {first.message[:200]}")


def numeric_check(value: str, tolerance: float, completion: str) -> Verdict:
    """The final answer (found as the MoE page finds it) is a number within tolerance of the value."""
    want = parse_number(value)
    if want is None:
        raise BadRequest(f"The expected value {value!r} of a numeric evaluator is not a number.")
    found = extract_answer(completion)
    got = parse_number(found.answer)
    if got is None:
        return binary(False, f"No number in the final answer ({found.method}: {short(found.answer or '', 40)})")
    diff = abs(float(got) - float(want))
    ok = diff <= tolerance + 1e-12
    return binary(ok, f"Final answer {float(got):g} ({found.method}), expected {float(want):g} ± {tolerance:g}")


def answer_check(value: str, kind: str, accept: list[str], completion: str) -> Verdict:
    """The final answer matches the expected one as the MoE problem set scores it."""
    if kind == "auto":
        kind = "number" if parse_number(value) is not None and len(value.split()) == 1 else "text"
    if kind not in ("number", "text"):
        raise BadRequest(f"An answer evaluator's type must be number, text or auto, not {kind!r}.")
    found = extract_answer(completion)
    ok = is_correct(found.answer, value, kind, tuple(accept))
    return binary(ok, f"Final answer {short(found.answer or '(none)', 60)} ({found.method}), expected {short(value, 60)}")
