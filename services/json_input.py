"""Untrusted JSON files in: parse with bounds, check against a declared schema, one sentence naming the place.

Bounds, checked before or while parsing, so no file can make the server do unbounded work:
- the caller's byte cap (checked first, on the raw bytes);
- at most MAX_JSON_VALUES separators (`,`), counted in C before parsing: every array item or object
  field past the first needs one, so this bounds how many Python objects the parse can build;
- nesting at most MAX_JSON_DEPTH levels (Python's parser would recurse until RecursionError);
- NaN, Infinity and numbers that overflow a float are refused by the schema's number type, with
  their path; integers over 4300 digits are refused by Python's own limit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator

from jsonschema import Draft202012Validator, validators

from services.errors import BadRequest

MAX_JSON_DEPTH = 16
MAX_JSON_VALUES = 2_000_000
# the most a JSON number may be in any file we read (2**53: the largest integer a float keeps exactly)
MAX_JSON_NUMBER = 2**53

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMES = {"string": "text", "integer": "a whole number", "number": "a number", "array": "a list",
          "object": "an object", "boolean": "true or false", "null": "null"}


def _is_int(_checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(_checker, value) -> bool:
    # NaN and Infinity parse (Python's json accepts them) but are not numbers a person meant
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (not isinstance(value, float) or math.isfinite(value)))


# Draft 2020-12, except that true is not an integer, 1.0 is not an integer, and NaN is not a number
Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_int, "number": _is_number}),
)


def where(path) -> str:
    """A JSON path as a person reads it: messages[3].params.stop (the whole file when empty)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part) and len(part) <= 40:
            out += f".{part}" if out else part
        else:
            out += "[" + json.dumps(part[:24] + ("…" if len(part) > 24 else "")) + "]"
    return out or "the file"


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _expect(error) -> str:
    """What the schema wants at the error's place, in words."""
    schema, value = error.schema, error.validator_value
    if isinstance(schema, dict) and schema.get("x-expect"):
        return schema["x-expect"]
    if error.validator == "type":
        types = value if isinstance(value, list) else [value]
        return " or ".join(_NAMES.get(t, t) for t in types)
    return ""


def describe(error) -> str:
    """One clause for a jsonschema error: `messages[3].params.stop must be a list of strings`."""
    at, kind, value, instance = where(error.absolute_path), error.validator, error.validator_value, error.instance
    if "propertyNames" in error.schema_path:
        return f"{at} has a key that is not {_expect(error) or 'allowed'}"
    if kind in ("type", "pattern", "format"):
        return f"{at} must be {_expect(error) or 'of another kind'}"
    if kind == "required":
        missing = next((k for k in value if isinstance(instance, dict) and k not in instance), value[0])
        return f"{at} needs the field {missing}"
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in known)[:1] or ["?"]
        names = ", ".join(sorted(known))
        return f"{at} has an unknown field {_short(extra[0])}" + (f" (known: {names})" if names else "")
    if kind == "enum":
        return f"{at} must be one of {', '.join(str(v) for v in value)}"
    if kind == "const":
        return f"{at} must be {json.dumps(value)}"
    if kind == "maxLength":
        return f"{at} is longer than {value:,} characters"
    if kind == "minLength":
        return f"{at} must not be empty"
    if kind == "maxItems":
        return f"{at} has more than {value:,} items"
    if kind == "minItems":
        return f"{at} needs at least {value} item{'s' if value != 1 else ''}"
    if kind == "maxProperties":
        return f"{at} has more than {value:,} entries"
    if kind in ("minimum", "exclusiveMinimum"):
        return f"{at} must be {'at least' if kind == 'minimum' else 'above'} {value}"
    if kind in ("maximum", "exclusiveMaximum"):
        return f"{at} must be {'at most' if kind == 'maximum' else 'below'} {value}"
    return f"{at} is not valid"


def check(data, schema: dict, what: str, hint: str = "") -> None:
    """Raise BadRequest naming the first place where data does not match the schema."""
    error = next(Validator(schema).iter_errors(data), None)
    if error is not None:
        raise BadRequest(f"This is not a usable {what}: {describe(error)}.", hint=hint)


def _children(value):
    return value.items() if isinstance(value, dict) else enumerate(value)


def _depth_path(data) -> list | None:
    """The path to the first value nested deeper than MAX_JSON_DEPTH, or None.

    Depth first with one iterator per level: no recursion, and memory grows with the depth, not the size.
    """
    if not isinstance(data, (dict, list)):
        return None
    stack = [(iter(_children(data)), [])]
    while stack:
        items, path = stack[-1]
        for key, value in items:
            if len(path) + 1 > MAX_JSON_DEPTH:
                return path + [key]
            if isinstance(value, (dict, list)):
                stack.append((iter(_children(value)), path + [key]))
                break
        else:
            stack.pop()
    return None


def json_lines(text: str, what: str, *, limit: int, too_many: str) -> Iterator[tuple[int, object]]:
    """Each non-blank line of JSON-lines text parsed, with its line number; past `limit` values, `too_many`."""
    count = 0
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if count >= limit:
            raise BadRequest(too_many)
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"{what} line {n} is not valid JSON ({exc.msg}).") from None
        except (RecursionError, ValueError):  # thousands deep, or an integer past Python's 4300 digits
            raise BadRequest(f"{what} line {n} nests too deeply or holds a number too long to read.") from None
        count += 1
        yield n, value


def parse(source: bytes | str, *, max_bytes: int, what: str, hint: str = ""):
    """Decode and parse an untrusted JSON file within the bounds above; BadRequest says what is wrong."""
    def refuse(reason: str) -> BadRequest:
        return BadRequest(f"This is not a usable {what}: {reason}.", hint=hint)

    if len(source) > max_bytes:
        raise refuse(f"it is larger than {max_bytes // (1024 * 1024)} MB")
    if isinstance(source, (bytes, bytearray)):
        try:
            source = bytes(source).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise refuse("it is not UTF-8 text") from None
    if source.count(",") >= MAX_JSON_VALUES:
        raise refuse(f"it holds more than {MAX_JSON_VALUES:,} values")
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise refuse(f"it is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise refuse(f"it is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise refuse("it holds a number too long to read") from None
    deep = _depth_path(data)
    if deep is not None:
        raise refuse(f"{where(deep[:MAX_JSON_DEPTH])} is nested deeper than {MAX_JSON_DEPTH} levels")
    return data


# ---- pieces both file formats share ---------------------------------------------------------------

def text(max_chars: int, *, nullable: bool = False) -> dict:
    """A string of at most max_chars."""
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_chars}


def number(*, minimum: float | None = None, maximum: float = MAX_JSON_NUMBER, nullable: bool = True,
           integer: bool = False) -> dict:
    """A finite number (or a whole number) within bounds."""
    kind = "integer" if integer else "number"
    out = {"type": [kind, "null"] if nullable else kind, "maximum": maximum,
           "minimum": -MAX_JSON_NUMBER if minimum is None else minimum}
    return out


# GenerationParams as JSON; ranges are checked again by GenerationParams itself
PARAMS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "temperature": number(nullable=False),
        "top_p": number(nullable=False),
        "top_k": number(integer=True, nullable=False),
        "max_tokens": number(integer=True, nullable=False),
        # null: the runtime's default
        "repetition_penalty": number(),
        "seed": number(integer=True),
        "stop": {"type": ["array", "null"], "x-expect": "a list of strings", "maxItems": 8,
                 "items": {"type": "string", "minLength": 1, "maxLength": 200, "x-expect": "a non-empty string"}},
        # services.types.ResponseFormat, which checks the schema itself
        "response_format": {"type": ["object", "null"], "additionalProperties": False, "properties": {
            "kind": {"type": "string", "enum": ["text", "json_object", "json_schema"]},
            "schema": {"type": ["object", "null"], "x-expect": "a JSON schema (an object)"},
            "name": text(200, nullable=True),
            "strict": {"type": ["boolean", "string", "null"], "maxLength": 8}}},
    },
}

# the measured figures of one answer (services.types.Metrics)
METRICS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        **{name: number(minimum=0) for name in ("ttft_s", "decode_tokens_per_s", "total_s", "load_s", "peak_rss_mb")},
        "prompt_tokens": number(minimum=0, integer=True),
        "completion_tokens": number(minimum=0, integer=True),
        # Ollama's eval_* figures, OpenAI's usage, prompt cache hits as numbers; which runtime answered while
        # the default was building (answered_by, default_building) as a short text and a flag
        "server": {"type": ["object", "null"], "maxProperties": 32, "additionalProperties": {
            "type": ["number", "string", "boolean", "null"], "maxLength": 200,
            "maximum": MAX_JSON_NUMBER, "minimum": -MAX_JSON_NUMBER}},
        # under a JSON response format: whether the answer validated, and the first problem
        "schema_valid": {"type": ["boolean", "null"]},
        "schema_error": {"type": ["string", "null"], "maxLength": 400},
    },
}
