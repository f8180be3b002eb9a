"""Run one evaluator on one answer: the checks directly, the judges through a target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.errors import BadRequest, PlaygroundError
from services.evaluate import checks
from services.evaluate.checks import Verdict
from services.evaluate.evaluator_spec import EvaluatorSpec
from services.evaluate.judges import judge_messages, judge_parts, match_choice
from services.evaluate.templating import render
from services.types import Message

# ask(judge_target, messages) -> the judge's reply text
Ask = Callable[[str, tuple[Message, ...]], str]


@dataclass(frozen=True)
class Context:
    """What evaluators may need beyond the row and the answer."""

    # the file's jsonSchema `schema`, for jsonSchema evaluators that have none of their own
    schema: dict | None = None
    # the judge target each judge evaluator uses, by evaluator name
    judges: dict | None = None
    ask: Ask | None = None


def _accept(cfg, row: dict, where: str) -> list[str]:
    accept = cfg["accept"]
    if isinstance(accept, str):
        key = accept.strip().removeprefix("{{").removesuffix("}}").strip()
        value = row.get(key) if accept.strip().startswith("{{") else accept
        if value is None or value == "":
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return [render(a, row) for a in accept]


def _judge(spec: EvaluatorSpec, row: dict, completion: str, ctx: Context) -> Verdict:
    target = (ctx.judges or {}).get(spec.name)
    if not target or ctx.ask is None:
        return Verdict(None, False, "No judge target was chosen for this evaluator.")
    _, _, choices, threshold = judge_parts(spec)
    try:
        reply = ctx.ask(target, judge_messages(spec, row, completion))
    except PlaygroundError as exc:
        return Verdict(None, False, f"The judge {target} failed: {exc.user_message()}")
    choice, how = match_choice(reply, choices)
    said = checks.short(reply.strip(), 120)
    if choice is None:
        return Verdict(None, False, f"Unmatched: {how}. The judge ({target}) said {said}.")
    # GitHub's rule is score > 0 (built-in judges too); an llm evaluator may set passThreshold instead
    passed = choice.score >= threshold if threshold is not None else choice.score > 0
    return Verdict(choice.score, passed, f"The judge ({target}) chose {choice.choice!r} ({how}); it said {said}.")


def evaluate(spec: EvaluatorSpec, row: dict, completion: str, ctx: Context) -> Verdict:
    """One evaluator's verdict on one answer (a bad setting raises BadRequest naming the evaluator)."""
    where = f"evaluator {spec.name!r}"
    cfg = spec.config
    if spec.kind == "string":
        op, value = next(iter(cfg.items()))
        return checks.string_check(op, render(value, row), completion)
    if spec.kind == "regex":
        return checks.regex_check(cfg["pattern"], cfg["ignoreCase"], completion)
    if spec.kind == "json":
        return checks.json_check(completion)
    if spec.kind == "jsonSchema":
        schema = cfg.get("schema", ctx.schema)
        if schema is None:
            raise BadRequest(f"{where} has no schema and the file has no jsonSchema.")
        return checks.schema_check(schema, completion)
    if spec.kind == "numeric":
        return checks.numeric_check(render(cfg["value"], row), cfg["tolerance"], completion)
    if spec.kind == "answer":
        return checks.answer_check(render(cfg["value"], row), render(cfg["type"], row),
                                   _accept(cfg, row, where), completion)
    return _judge(spec, row, completion, ctx)


def case_status(verdicts: list[Verdict]) -> str:
    """A case passes when every evaluator passed (with none, it passes, as in gh models eval); fails when
    any failed; else it is unscored."""
    if any(v.status == "fail" for v in verdicts):
        return "fail"
    if any(v.status == "unscored" for v in verdicts):
        return "unscored"
    return "pass"
