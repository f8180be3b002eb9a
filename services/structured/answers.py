"""Check an answer against its response format: parses as JSON, and validates against the schema."""

from __future__ import annotations

import json
from dataclasses import dataclass

import referencing
import referencing.exceptions
from jsonschema import exceptions

from services.structured.bounded_schema import PatternCutOff, UncheckableSchema, iter_errors
from services.types import ResponseFormat

# the longest first-error message kept (it is shown in a badge and stored with the answer)
MAX_ERROR_CHARS = 240


@dataclass(frozen=True)
class SchemaCheck:
    """valid is None when no JSON was asked for; error is the first problem, in words."""

    valid: bool | None
    error: str = ""


def _no_fetch(uri: str):
    # a schema may name other documents; checking an answer never goes to the network for them
    raise referencing.exceptions.NoSuchResource(ref=uri)


_REGISTRY = referencing.Registry(retrieve=_no_fetch)


def _where(path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))


def check_answer(text: str, fmt: ResponseFormat, *, token_limit: int | None = None) -> SchemaCheck:
    """SchemaCheck(None) for text answers; otherwise whether the answer is JSON of the right shape.

    token_limit: the max_tokens the answer ran into (finish reason "length"), so JSON it cut short
    is reported as cut short, with what to change, rather than as a parse error.
    """
    if not fmt.is_json:
        return SchemaCheck(None)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if token_limit is not None and text.strip():
            return SchemaCheck(False, f"The answer reached the {token_limit}-token limit before its JSON was "
                                      "complete; raise Max tokens.")
        what = "The answer is empty" if not text.strip() else "The answer is not JSON"
        return SchemaCheck(False, f"{what}: {err.msg} (line {err.lineno}, column {err.colno})."
                           if text.strip() else f"{what}.")
    except RecursionError:
        return SchemaCheck(False, "The answer nests too deeply to read.")
    except ValueError:  # an integer longer than Python converts (4300 digits)
        return SchemaCheck(False, "The answer holds a number too long to read.")
    if fmt.kind == "json_object":
        if isinstance(value, dict):
            return SchemaCheck(True)
        return SchemaCheck(False, f"The answer is JSON but not an object (it is {type(value).__name__}).")
    try:
        # a schema's patterns are a person's regexes run on model output: bounded in time (bounded_schema.py)
        error = exceptions.best_match(iter_errors(fmt.schema, value, registry=_REGISTRY))
    except (PatternCutOff, UncheckableSchema) as err:  # the check stopped: neither valid nor invalid
        return SchemaCheck(None, f"The answer could not be checked: {err}."[:MAX_ERROR_CHARS])
    except exceptions.ValidationError as err:  # a pattern that could not be run
        return SchemaCheck(False, f"The answer could not be checked: {err.message}."[:MAX_ERROR_CHARS])
    except (referencing.exceptions.Unresolvable, exceptions._WrappedReferencingError) as err:
        ref = str(getattr(err, "ref", "") or "")[:80] or "another document"
        return SchemaCheck(None, f"The answer could not be checked: the schema refers to {ref}, which is not fetched.")
    except RecursionError:
        return SchemaCheck(None, "The answer could not be checked: the schema refers to itself without end.")
    if error is None:
        return SchemaCheck(True)
    where = _where(error.absolute_path)
    message = f"{where}: {error.message}" if where else error.message
    return SchemaCheck(False, message[:MAX_ERROR_CHARS])
