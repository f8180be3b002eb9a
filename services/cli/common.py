"""Flags and output helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys

from services.types import GenerationParams


def add_generation_flags(p) -> None:
    """The sampling flags every generating command takes."""
    p.add_argument("--system", help="system prompt")
    p.add_argument("--max-tokens", type=int, default=None, help="most new tokens")
    p.add_argument("--temperature", type=float, default=None, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--repetition-penalty", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")


def params_from_args(args, **defaults) -> GenerationParams:
    """GenerationParams from the flags that were given, validated."""
    values = dict(defaults)
    for name in ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed", "stop"):
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    return GenerationParams.from_dict(values)


def print_json(obj) -> None:
    """One JSON object on stdout."""
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def stderr_progress(stage: str, fraction: float, message: str) -> None:
    """Provisioning progress as lines on stderr."""
    print(f"[{stage} {fraction:4.0%}] {message}", file=sys.stderr, flush=True)
