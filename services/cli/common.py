"""Flags and output helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys

from services.chat import resolve_target
from services.conversations.rows import Conversation, TurnSettings
from services.errors import BadRequest
from services.structured.schema_input import MAX_SCHEMA_TEXT_BYTES, parse_schema_text, response_format_from
from services.types import GenerationParams, ResponseFormat


def add_generation_flags(p, *, response_format: bool = True) -> None:
    """The sampling flags every generating command takes; `response_format`: also --response-format and
    --schema (chat and compare; the vision and MoE pages offer no response format either)."""
    p.add_argument("--system", help="system prompt")
    p.add_argument("--max-tokens", type=int, default=None, help="most new tokens")
    p.add_argument("--temperature", type=float, default=None, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--repetition-penalty", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")
    if not response_format:
        return
    p.add_argument("--response-format", choices=("text", "json_object", "json_schema"), default=None,
                   help="constrain the answer to any JSON object or to --schema (default text)")
    p.add_argument("--schema", metavar="FILE", default=None,
                   help="JSON Schema file for --response-format json_schema (implies it)")


def params_from_args(args, **defaults) -> GenerationParams:
    """GenerationParams from the flags that were given, validated."""
    values = dict(defaults)
    for name in ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed", "stop"):
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    kind, schema_file = getattr(args, "response_format", None), getattr(args, "schema", None)
    if kind is not None or schema_file is not None:
        inherited = ResponseFormat.coerce(values.get("response_format"))
        values["response_format"] = response_format_arg(kind or "json_schema", schema_file, inherited)
    return GenerationParams.from_dict(values)


def settings_from_args(args, conv: Conversation | None, default_target: str, default_system: str) -> TurnSettings:
    """The settings a turn runs with: the flags given, else the continued conversation's own, else the defaults."""
    target = resolve_target(args.target or (conv and conv.target) or default_target)
    stored = conv.params.to_dict() if conv is not None and conv.params is not None else {}
    system = args.system if args.system is not None else (conv.system if conv is not None else default_system)
    return TurnSettings(str(target), params_from_args(args, **stored), system)


def response_format_arg(kind: str, schema_file: str | None,
                        inherited: ResponseFormat | None = None) -> ResponseFormat:
    """--response-format and --schema FILE as a ResponseFormat; a bad file is one sentence."""
    if schema_file is not None and kind != "json_schema":
        raise BadRequest(f"--schema goes with --response-format json_schema, not {kind}; "
                         "drop one of them.")
    if schema_file is None:
        # a continued conversation keeps its schema when only the kind is repeated
        if kind == "json_schema" and inherited is not None and inherited.kind == "json_schema":
            return inherited
        if kind == "json_schema":
            raise BadRequest("--response-format json_schema needs a schema: add --schema FILE "
                             "(a JSON Schema in a .json file).")
        return response_format_from(kind)
    try:
        with open(schema_file, "rb") as f:  # read one byte past the cap, so an oversized file is refused
            text = f.read(MAX_SCHEMA_TEXT_BYTES + 1)
    except OSError as exc:
        raise BadRequest(f"Cannot read the schema file {schema_file}: {exc.strerror or exc}.") from None
    return parse_schema_text(text, f"The schema file {schema_file}")


def schema_line(valid: bool | None, error: str) -> str:
    """How an answer under a JSON response format checked out, in one line."""
    if valid:
        return "schema: valid"
    return f"schema: {'invalid' if valid is False else 'not checked'}" + (f" ({error})" if error else "")


def print_json(obj) -> None:
    """One JSON object on stdout."""
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def stderr_progress(stage: str, fraction: float, message: str) -> None:
    """Provisioning progress as lines on stderr."""
    print(f"[{stage} {fraction:4.0%}] {message}", file=sys.stderr, flush=True)
