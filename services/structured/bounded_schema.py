"""JSON Schema validation whose regexes run under a time limit: `pattern`, `patternProperties` and the
key matching of `additionalProperties` use the `regex` package with a timeout, and one validation has a
total budget, so a person's pattern with nested repeats cannot hold the server on model output.

jsonschema itself calls Python's `re` (which has no time limit) for those keywords; here they are
replaced. The one place left that calls `re` is jsonschema's search for keys that `unevaluatedProperties`
already saw through `patternProperties`; a schema that combines the two is not checked (a sentence says so).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import regex
from jsonschema import exceptions, validators

# one pattern on one string, and every pattern of one validation together
PATTERN_TIMEOUT_S = 0.2
VALIDATION_BUDGET_S = 1.0


class PatternCutOff(Exception):
    """A pattern ran past its time limit: the check stops, and `sentence` says why."""

    def __init__(self, pattern: str, seconds: float, *, whole: bool = False):
        self.pattern = pattern
        ran = (f"the schema's patterns ran longer than {seconds:g} s in all" if whole
               else f"the pattern {pattern[:60]!r} ran longer than {seconds:g} s")
        self.sentence = f"{ran} and the check was cut off; simplify it (nested repeats such as (a+)+ backtrack)"
        super().__init__(self.sentence)


class UncheckableSchema(Exception):
    """The schema uses a combination that cannot be checked within a time limit."""


@dataclass
class Budget:
    """The time left for the patterns of one validation."""

    seconds: float = VALIDATION_BUDGET_S
    started: float = field(default_factory=time.monotonic)

    def search(self, pattern: str, text: str) -> bool:
        """regex.search under the smaller of the per-pattern limit and what is left of the budget."""
        left = self.seconds - (time.monotonic() - self.started)
        limit = min(PATTERN_TIMEOUT_S, left)
        if limit <= 0:
            raise PatternCutOff(pattern, self.seconds, whole=True)
        try:
            return regex.search(pattern, text, timeout=limit) is not None
        except TimeoutError:
            whole = limit < PATTERN_TIMEOUT_S
            raise PatternCutOff(pattern, self.seconds if whole else PATTERN_TIMEOUT_S, whole=whole) from None
        except regex.error as err:
            raise exceptions.ValidationError(f"the pattern {pattern[:60]!r} is not a usable regex ({err})") from None


def _keywords(base, budget: Budget) -> dict:
    """The keyword functions that replace jsonschema's `re` calls, all searching through `budget`."""
    plain_additional = base.VALIDATORS.get("additionalProperties")

    def pattern(validator, patrn, instance, schema):
        if validator.is_type(instance, "string") and not budget.search(patrn, instance):
            yield exceptions.ValidationError(f"{instance[:60]!r} does not match {patrn[:60]!r}")

    def pattern_properties(validator, pattern_properties, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in pattern_properties.items():
            for k, v in instance.items():
                if budget.search(patrn, k):
                    yield from validator.descend(v, subschema, path=k, schema_path=patrn)

    def additional_properties(validator, ap, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        patterns = schema.get("patternProperties") if isinstance(schema, dict) else None
        if patterns:
            # the keys a pattern matches count as named properties, so jsonschema runs no regex of its own
            matched = {k: True for k in instance if any(budget.search(p, k) for p in patterns)}
            schema = {k: v for k, v in schema.items() if k != "patternProperties"}
            schema["properties"] = {**matched, **schema.get("properties", {})}
        yield from plain_additional(validator, ap, instance, schema)

    out = {"pattern": pattern, "patternProperties": pattern_properties}
    if plain_additional is not None:
        out["additionalProperties"] = additional_properties
    return out


def _uses_both(schema) -> bool:
    """True when unevaluatedProperties and patternProperties both appear anywhere in the schema."""
    seen, stack = set(), [schema]
    while stack and len(seen) < 2:  # bounded by the schema's own size
        node = stack.pop()
        if isinstance(node, dict):
            seen |= {"unevaluatedProperties", "patternProperties"} & node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return len(seen) == 2


def iter_errors(schema, instance, *, registry=None, budget: Budget | None = None) -> Iterator:
    """jsonschema's iter_errors for this schema's draft, with bounded patterns.

    Raises PatternCutOff when a pattern runs past its limit, UncheckableSchema for the one combination
    whose keys jsonschema would match with `re` itself.
    """
    if _uses_both(schema):
        raise UncheckableSchema("the schema combines unevaluatedProperties with patternProperties, which cannot be "
                                "checked within a time limit")
    base = validators.validator_for(schema)
    bounded = validators.extend(base, _keywords(base, budget or Budget()))
    kwargs = {"registry": registry} if registry is not None else {}
    return bounded(schema, **kwargs).iter_errors(instance)
