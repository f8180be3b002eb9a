"""Evaluator definitions as a prompt file writes them: GitHub's kinds plus ours, read as the reference reads
them (unknown keys ignored with a notice, the first kind and the first string check used)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from services.errors import BadRequest
from services.evaluate import yaml_reader as yr
from services.evaluate.checks import check_schema, compile_pattern
from services.evaluate.file_notices import Notes, near_miss

# gh models eval's order: with several given, the first non-empty one is used
STRING_OPS = ("equals", "contains", "startsWith", "endsWith")
BUILTINS = ("similarity", "coherence", "fluency", "relevance", "groundedness")
# GitHub's kinds first (in the order the reference tries them), then ours: regex, JSON valid,
# JSON-schema valid, numeric, final answer
KINDS = ("string", "llm", "uses", "regex", "json", "jsonSchema", "numeric", "answer")
LLM_KEYS = ("modelId", "prompt", "systemPrompt", "choices", "passThreshold")
MAX_PATTERN = 500
MAX_CHOICES = 20
MAX_NAME_CHARS = 100
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
        """The evaluator with typed settings, plus every other key the file had (nothing is dropped)."""
        if self.kind == "llm":
            typed = {k: v for k, v in self.config.items() if v != "" or k == "prompt"}
            typed["choices"] = [{"choice": c.choice, "score": c.score} for c in self.choices]
        else:
            typed = self.config
        raw = dict(self.raw)
        written = raw.get(self.kind)
        if isinstance(written, dict) and isinstance(typed, dict):
            typed = {**written, **typed}
        return {**raw, "name": self.name, self.kind: typed}

    @property
    def label(self) -> str:
        """`name (kind)` for tables."""
        detail = self.config if self.kind == "uses" else self.kind
        return f"{self.name} ({detail})"


def _required_text(value, where: str) -> str:
    text = yr.text(value, where)
    if not text.strip():
        raise BadRequest(f"{where} must not be empty.")
    return text


def _map(value, where: str, *, empty_ok: bool = False) -> dict:
    if empty_ok and (yr.is_blank(value) or value is True):
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a map of settings.")
    return value


def _string(cfg, where: str, path: str, notes: Notes) -> dict:
    cfg = _map(cfg, where)
    notes.keys(cfg, STRING_OPS, path)
    given = [op for op in STRING_OPS if yr.text(cfg.get(op), f"{where} {op}")]
    if not given:
        raise BadRequest(f"{where} needs one of {', '.join(STRING_OPS)} with a value.")
    if len(given) > 1:
        notes.add(f"{where} gives {' and '.join(given)}: only {given[0]} is checked, as gh models eval checks "
                  "the first of equals, contains, startsWith, endsWith.")
    return {given[0]: yr.text(cfg[given[0]], f"{where} {given[0]}")}


def _choices(raw, where: str, path: str, notes: Notes) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{where} choices must be a list of {{choice, score}} maps.")
    if len(raw) > MAX_CHOICES:
        raise BadRequest(f"{where} has {len(raw)} choices; at most {MAX_CHOICES}.")
    out, seen = [], set()
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict) or "choice" not in item or "score" not in item:
            raise BadRequest(f"{where} choice {n} must be a map with choice and score.")
        notes.keys(item, ("choice", "score"), f"{path}.choices[{n}]")
        text = _required_text(item["choice"], f"{where} choice {n}")
        key = words(text)
        if not key:
            raise BadRequest(f"{where} choice {n} ({text!r}) has no letters or digits to match a reply against.")
        if key in seen:
            notes.add(f"{where} choice {n} ({text!r}) is the same words as an earlier choice; the earlier one is used.")
            continue
        seen.add(key)
        out.append(Choice(text, yr.number(item["score"], f"{where} choice {n} score")))
    return tuple(out)


def _llm(cfg, where: str, path: str, notes: Notes) -> tuple[dict, tuple[Choice, ...]]:
    cfg = _map(cfg, where)
    notes.keys(cfg, LLM_KEYS, path)
    out = {"prompt": _required_text(cfg.get("prompt"), f"{where} prompt"),
           "modelId": yr.text(cfg.get("modelId"), f"{where} modelId").strip(),
           "systemPrompt": yr.text(cfg.get("systemPrompt"), f"{where} systemPrompt")}
    if not yr.is_blank(cfg.get("passThreshold")):
        out["passThreshold"] = yr.number(cfg["passThreshold"], f"{where} passThreshold")
    return out, _choices(cfg.get("choices"), where, path, notes)


def _regex(cfg, where: str, path: str, notes: Notes) -> dict:
    cfg = _map(cfg, where)
    notes.keys(cfg, ("pattern", "ignoreCase"), path)
    pattern = _required_text(cfg.get("pattern"), f"{where} pattern")
    if len(pattern) > MAX_PATTERN:
        raise BadRequest(f"{where} pattern is {len(pattern)} characters; at most {MAX_PATTERN}.")
    ignore = False if yr.is_blank(cfg.get("ignoreCase")) else yr.boolean(cfg["ignoreCase"], f"{where} ignoreCase")
    compile_pattern(pattern, ignore, where)
    return {"pattern": pattern, "ignoreCase": ignore}


def _schema(cfg, where: str, path: str, notes: Notes) -> dict:
    cfg = _map(cfg, where, empty_ok=True)
    notes.keys(cfg, ("schema",), path)
    if "schema" not in cfg:
        return {}
    schema = cfg["schema"]
    if isinstance(schema, str):  # JSON text, as the file's own jsonSchema is written
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{where} schema is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        except (RecursionError, ValueError):  # thousands deep, or an integer past Python's 4300 digits
            raise BadRequest(f"{where} schema nests too deeply or holds a number too long to read.") from None
    else:
        schema = yr.as_json_tree(schema)
    check_schema(schema, where)
    return {"schema": schema}


def _numeric(cfg, where: str, path: str, notes: Notes) -> dict:
    cfg = _map(cfg, where)
    notes.keys(cfg, ("value", "tolerance"), path)
    tol = 0.0 if yr.is_blank(cfg.get("tolerance")) else yr.number(cfg["tolerance"], f"{where} tolerance")
    if tol < 0:
        raise BadRequest(f"{where} tolerance must be 0 or more.")
    return {"value": _required_text(cfg.get("value"), f"{where} value"), "tolerance": tol}


def _answer(cfg, where: str, path: str, notes: Notes) -> dict:
    cfg = _map(cfg, where)
    notes.keys(cfg, ("value", "type", "accept"), path)
    accept = cfg.get("accept") or []
    if not isinstance(accept, (str, list)) or (isinstance(accept, list) and not all(isinstance(a, str) for a in accept)):
        raise BadRequest(f"{where} accept must be a list of answers (or one {{{{placeholder}}}} holding a list).")
    kind = yr.text(cfg.get("type"), f"{where} type") or "auto"
    return {"value": _required_text(cfg.get("value"), f"{where} value"), "type": kind, "accept": accept}


_READERS = {"string": _string, "regex": _regex, "jsonSchema": _schema, "numeric": _numeric, "answer": _answer}


def parse_evaluator(raw, n: int, notes: Notes | None = None) -> EvaluatorSpec:
    """One evaluator map from a file; every refusal names evaluator n, every notice goes to `notes`."""
    notes = notes if notes is not None else Notes()
    if not isinstance(raw, dict):
        raise BadRequest(f"evaluators item {n} must be a map with a name and one kind.")
    name = yr.text(raw.get("name"), f"evaluators item {n} name").strip()
    if not name:
        name = f"evaluator {n}"
        notes.add(f"evaluators item {n} has no name; it is called {name!r} in the results.")
    if len(name) > MAX_NAME_CHARS:
        raise BadRequest(f"evaluators item {n}: the name is longer than {MAX_NAME_CHARS} characters.")
    where, path = f"evaluator {n} ({name!r})", f"evaluators[{n}]"
    notes.keys(raw, ("name",) + KINDS, path)
    kinds = [k for k in KINDS if k in raw]
    if not kinds:
        raise BadRequest(f"{where} has no kind; give one of {', '.join(KINDS)}.")
    if len(kinds) > 1:
        notes.add(f"{where} has {' and '.join(kinds)}: {kinds[0]} is used (gh models eval tries string, then llm, "
                  "then uses) and the rest is ignored.")
    kind, cfg = kinds[0], raw[kinds[0]]
    choices: tuple[Choice, ...] = ()
    if kind == "llm":
        config, choices = _llm(cfg, where, f"{path}.llm", notes)
    elif kind == "uses":
        text = _required_text(cfg, f"{where} uses")
        builtin = text.removeprefix("github/")
        if not text.startswith("github/") or builtin not in BUILTINS:
            guess = near_miss(builtin, BUILTINS)
            hint = f" (did you mean github/{guess}?)" if guess else ""
            raise BadRequest(f"{where} uses {text!r}{hint}; built-in judges are "
                             f"{', '.join('github/' + b for b in BUILTINS)}.")
        config = text
    elif kind == "json":
        notes.keys(_map(cfg, where, empty_ok=True), (), f"{path}.json")
        config = {}
    else:
        config = _READERS[kind](cfg, where, f"{path}.{kind}", notes)
    return EvaluatorSpec(name, kind, config, dict(raw), choices)
