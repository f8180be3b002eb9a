"""`chat`: one prompt to one target, streamed to stdout or printed as JSON."""

from __future__ import annotations

import sys

from services import embedded
from services.chat import DEFAULT_TARGET, chat_once, resolve_target, start_chat
from services.cli.common import add_generation_flags, params_from_args, print_json, stderr_progress
from services.errors import IncompleteGeneration
from services.types import Message


def register(sub) -> None:
    p = sub.add_parser("chat", help="ask one question")
    p.add_argument("prompt")
    p.add_argument("--target", default=DEFAULT_TARGET)
    add_generation_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(func=run)


def ensure_embedded(target) -> None:
    """Build the embedded caches first, with progress lines, when the target needs them."""
    if target.model == embedded.EMBEDDED_MODEL and not embedded.is_provisioned():
        embedded.provision(stderr_progress)


def result_json(target, stream) -> dict:
    """The documented --json shape."""
    m = stream.metrics
    return {
        "target": str(target),
        "text": stream.text,
        "finish_reason": stream.finish_reason,
        "metrics": {
            "ttft_s": m.ttft_s,
            "decode_tokens_per_s": m.decode_tokens_per_s,
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "total_s": m.total_s,
            "load_s": m.load_s,
        },
    }


def run(args) -> int:
    target = resolve_target(args.target)
    params = params_from_args(args)
    ensure_embedded(target)
    if args.json:
        stream = chat_once(target, args.prompt, system=args.system, params=params)
        print_json(result_json(target, stream))
        return 0
    messages = ([Message("system", args.system)] if args.system else []) + [Message("user", args.prompt)]
    stream = start_chat(target, messages, params)
    for notice in stream.notices:
        print(f"note: {notice}", file=sys.stderr)
    try:
        for piece in stream.text_chunks():
            sys.stdout.write(piece)
            sys.stdout.flush()
    except IncompleteGeneration:
        sys.stdout.write("\n[incomplete]\n")
        raise
    sys.stdout.write("\n")
    m = stream.metrics
    print(f"[{stream.finish_reason}] ttft {m.ttft_s}s, {m.decode_tokens_per_s} tok/s, "
          f"{m.prompt_tokens} in / {m.completion_tokens} out, load {m.load_s}s", file=sys.stderr)
    return 0
