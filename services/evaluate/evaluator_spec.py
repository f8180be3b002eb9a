"""Evaluator definitions as a prompt file writes them: GitHub's kinds plus ours, checked at load time."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from services.errors import BadRequest

STRING_OPS = ("equals", "contains", "startsWith", "endsWith")
BUILTINS = ("similarity", "coherence", "fluency", "relevance", "groundedness")
# GitHub's kinds first, then ours: regex, JSON valid, JSON-schema valid, numeric, final answer
KINDS = ("string", "llm", "uses", "regex", "json", "jsonSchema", "numeric", "answer")
MAX_PATTERN = 500
MAX_CHOICES = 20
WORD = re.compile(r"\w+")


def words(text: str) -> tuple[str, ...]:
    """Lower-case word tokens (letters, digits, '_'), the unit judge choices are matched in."""
    return tuple(WORD.findall((text or "").lower()))


@dataclass(frozen=True)
class Choice:
    """One answer a judge may give and its score."""

    choice: str
    score: float


@dataclass(frozen=True)
class EvaluatorSpec:
    """One evaluator: its name, its kind, the kind's settings, and the map as the file wrote it."""

    name: str
    kind: str
    config: dict
    raw: dict = field(default_factory=dict, compare=False)
    choices: tuple[Choice, ...] = ()

    def to_yaml(self) -> dict:
        """The evaluator as the file had it (nothing the user wrote is dropped)."""
        return dict(self.raw) if self.raw else {"name": self.name, self.kind: self.config}

    @property
    def label(self) -> str:
        """`name (kind)` for tables."""
        detail = self.config if self.kind == "uses" else self.kind
        return f"{self.name} ({detail})"


def _text(value, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{where} must be text.")
    text = str(value)
    if required and not text.strip():
        raise BadRequest(f"{where} must not be empty.")
    return text


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{where} must be a number, not {value!r}.")
    return float(value)


def _map(value, where: str, *, empty_ok: bool = False) -> dict:
    if value is None or value is True:
        if empty_ok:
            return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a map of settings.")
    return value


def _unknown(config: dict, known: set[str], where: str) -> None:
    extra = sorted(str(k) for k in set(config) - known)
    if extra:
        raise BadRequest(f"{where} has unknown setting(s) {', '.join(extra)}; known: {', '.join(sorted(known))}.")


def _string(cfg, where: str) -> dict:
    cfg = _map(cfg, where)
    ops = [op for op in STRING_OPS if op in cfg]
    _unknown(cfg, set(STRING_OPS), where)
    if len(ops) != 1:
        raise BadRequest(f"{where} needs exactly one of {', '.join(STRING_OPS)}; it has {len(ops)}.")
    return {ops[0]: _text(cfg[ops[0]], f"{where} {ops[0]}")}


def _choices(raw, where: str) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{where} choices must be a list of {{choice, score}} maps.")
    if len(raw) > MAX_CHOICES:
        raise BadRequest(f"{where} has {len(raw)} choices; at most {MAX_CHOICES}.")
    out, seen = [], set()
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict) or "choice" not in item or "score" not in item:
            raise BadRequest(f"{where} choice {n} must be a map with choice and score.")
        text = _text(item["choice"], f"{where} choice {n}")
        key = words(text)
        if not key:
            raise BadRequest(f"{where} choice {n} ({text!r}) has no letters or digits to match a reply against.")
        if key in seen:
            raise BadRequest(f"{where} choice {n} ({text!r}) is the same as an earlier choice.")
        seen.add(key)
        out.append(Choice(text, _number(item["score"], f"{where} choice {n} score")))
    return tuple(out)


def _llm(cfg, where: str) -> tuple[dict, tuple[Choice, ...]]:
    cfg = _map(cfg, where)
    _unknown(cfg, {"modelId", "prompt", "systemPrompt", "choices", "passThreshold"}, where)
    out = {"prompt": _text(cfg.get("prompt"), f"{where} prompt"),
           "modelId": _text(cfg.get("modelId"), f"{where} modelId", required=False),
           "systemPrompt": _text(cfg.get("systemPrompt"), f"{where} systemPrompt", required=False)}
    if "passThreshold" in cfg:
        out["passThreshold"] = _number(cfg["passThreshold"], f"{where} passThreshold")
    return out, _choices(cfg.get("choices"), where)


def _regex(cfg, where: str) -> dict:
    from services.evaluate.checks import compile_pattern

    cfg = _map(cfg, where)
    _unknown(cfg, {"pattern", "ignoreCase"}, where)
    pattern = _text(cfg.get("pattern"), f"{where} pattern")
    if len(pattern) > MAX_PATTERN:
        raise BadRequest(f"{where} pattern is {len(pattern)} characters; at most {MAX_PATTERN}.")
    ignore = cfg.get("ignoreCase", False)
    if not isinstance(ignore, bool):
        raise BadRequest(f"{where} ignoreCase must be true or false.")
    compile_pattern(pattern, ignore, where)
    return {"pattern": pattern, "ignoreCase": ignore}


def _schema(cfg, where: str) -> dict:
    from services.evaluate.checks import check_schema

    cfg = _map(cfg, where, empty_ok=True)
    _unknown(cfg, {"schema"}, where)
    if "schema" not in cfg:
        return {}
    schema = cfg["schema"]
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{where} schema is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        except (RecursionError, ValueError):  # thousands deep, or an integer past Python's 4300 digits
            raise BadRequest(f"{where} schema nests too deeply or holds a number too long to read.") from None
    check_schema(schema, where)
    return {"schema": schema}


def _numeric(cfg, where: str) -> dict:
    cfg = _map(cfg, where)
    _unknown(cfg, {"value", "tolerance"}, where)
    tol = _number(cfg.get("tolerance", 0), f"{where} tolerance")
    if tol < 0:
        raise BadRequest(f"{where} tolerance must be 0 or more.")
    return {"value": _text(cfg.get("value"), f"{where} value"), "tolerance": tol}


def _answer(cfg, where: str) -> dict:
    cfg = _map(cfg, where)
    _unknown(cfg, {"value", "type", "accept"}, where)
    accept = cfg.get("accept", [])
    if not isinstance(accept, (str, list)) or (isinstance(accept, list) and not all(isinstance(a, str) for a in accept)):
        raise BadRequest(f"{where} accept must be a list of answers (or one {{{{placeholder}}}} holding a list).")
    return {"value": _text(cfg.get("value"), f"{where} value"), "type": _text(cfg.get("type", "auto"), f"{where} type"),
            "accept": accept}


def parse_evaluator(raw, n: int) -> EvaluatorSpec:
    """One evaluator map from a file; every error names evaluator n and its name."""
    if not isinstance(raw, dict):
        raise BadRequest(f"evaluators item {n} must be a map with a name and one kind.")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"evaluators item {n} needs a name.")
    if len(name) > 100:
        raise BadRequest(f"evaluators item {n}: the name is longer than 100 characters.")
    where = f"evaluator {n} ({name!r})"
    others = [str(k) for k in raw if k != "name"]
    unknown = [k for k in others if k not in KINDS]
    if unknown:
        raise BadRequest(f"{where} has unknown kind {unknown[0]!r}; known kinds: {', '.join(KINDS)}.")
    kinds = [k for k in others if k in KINDS]
    if not kinds:
        raise BadRequest(f"{where} has no kind; give one of {', '.join(KINDS)}.")
    if len(kinds) > 1:
        raise BadRequest(f"{where} has {len(kinds)} kinds ({' and '.join(kinds)}); give exactly one.")
    kind, cfg = kinds[0], raw[kinds[0]]
    choices: tuple[Choice, ...] = ()
    if kind == "string":
        config = _string(cfg, where)
    elif kind == "llm":
        config, choices = _llm(cfg, where)
    elif kind == "uses":
        text = _text(cfg, f"{where} uses")
        builtin = text.removeprefix("github/")
        if not text.startswith("github/") or builtin not in BUILTINS:
            raise BadRequest(f"{where} uses {text!r}; built-in judges are "
                             f"{', '.join('github/' + b for b in BUILTINS)}.")
        config = text
    elif kind == "regex":
        config = _regex(cfg, where)
    elif kind == "json":
        _unknown(_map(cfg, where, empty_ok=True), set(), where)
        config = {}
    elif kind == "jsonSchema":
        config = _schema(cfg, where)
    elif kind == "numeric":
        config = _numeric(cfg, where)
    else:
        config = _answer(cfg, where)
    return EvaluatorSpec(name.strip(), kind, config, dict(raw), choices)
