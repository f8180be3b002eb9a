"""`chat`: one prompt to one target, streamed to stdout or printed as JSON."""

from __future__ import annotations

import sys

from services.chat import DEFAULT_SYSTEM_PROMPT, DEFAULT_TARGET
from services.cli.common import add_generation_flags, print_json, schema_line, settings_from_args, stderr_progress
from services.codegen import script_for
from services.codegen.requests import chat_request
from services.conversations.branches import edit, regenerate, send
from services.conversations.rows import TurnSettings
from services.conversations.store import open_store
from services.errors import BadRequest, IncompleteGeneration
from services.models import embedded, embedded_background
from services.streaming import Answer, AnswerOutcome


def register(sub) -> None:
    p = sub.add_parser("chat", help="ask one question")
    p.add_argument("prompt", nargs="?", default=None, help="the question (or the edited text with --edit)")
    p.add_argument("--target", default=None,
                   help=f"backend:model (default: the conversation's target, else {DEFAULT_TARGET})")
    p.add_argument("--conversation", metavar="ID", help="continue this stored conversation (see `conversations`)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--regenerate", action="store_true",
                       help="answer the last question of --conversation again (the old answer is kept)")
    again.add_argument("--edit", type=int, metavar="MESSAGE",
                       help="resend PROMPT in place of that question of --conversation, as a new branch")
    add_generation_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--show-code", action="store_true",
                   help="print a Python script that sends this request on the target's runtime, instead of running it")
    p.set_defaults(func=run)


def ensure_embedded(target) -> None:
    """Build the embedded caches first, with progress lines, when the target needs them."""
    if embedded_background.must_build_first(str(target)):
        embedded.provision(stderr_progress)
    waiting = embedded_background.note(str(target))
    if waiting:
        print(waiting, file=sys.stderr)


def print_answer(answer: Answer) -> AnswerOutcome:
    """Print the answer as it arrives and end its line; a failure is raised (marked [incomplete] after some text)."""
    with answer:
        for piece in answer:  # each piece shown the moment it arrives
            sys.stdout.write(piece)
            sys.stdout.flush()
    outcome = answer.outcome
    if isinstance(outcome.error, IncompleteGeneration):
        sys.stdout.write("\n[incomplete]\n")
    if outcome.error is not None:
        raise outcome.error
    sys.stdout.write("\n")
    return outcome


def result_json(target, outcome: AnswerOutcome) -> dict:
    """The documented --json shape."""
    m = outcome.metrics
    return {
        "target": str(target),
        "text": outcome.text,
        "finish_reason": outcome.finish_reason,
        "metrics": {
            "ttft_s": m.ttft_s,
            "decode_tokens_per_s": m.decode_tokens_per_s,
            "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens,
            "total_s": m.total_s,
            "load_s": m.load_s,
        },
        # the runtime that really answered, when it was not the target's own (default still building)
        **({"answered_by": m.server["answered_by"]} if m.server.get("answered_by") else {}),
        # under --response-format json_object/json_schema: did the answer validate (null for text)
        "schema_valid": m.schema_valid,
        **({"schema_error": m.schema_error} if m.schema_error else {}),
    }


def show_code(store, settings: TurnSettings, args) -> int:
    """Print the script for the request these flags describe; nothing is stored or generated."""
    request = chat_request(store, settings, args.prompt, conversation=args.conversation,
                           regenerate=args.regenerate, edit=args.edit)
    # one file on stdout: a conversation's images go inside it
    sys.stdout.write(script_for(request, inline_images=True).text)
    return 0


def run(args) -> int:
    store = open_store()
    if store.notice:
        print(f"note: {store.notice}", file=sys.stderr)
    conv = store.require_conversation(args.conversation) if args.conversation else None
    # a continued conversation keeps its target, parameters and system prompt unless a flag says otherwise
    settings = settings_from_args(args, conv, DEFAULT_TARGET, DEFAULT_SYSTEM_PROMPT)
    target = settings.target
    if args.show_code:
        return show_code(store, settings, args)
    ensure_embedded(target)
    if (args.regenerate or args.edit is not None) and not args.conversation:
        raise BadRequest("--regenerate and --edit need --conversation ID.")
    # the question is stored before generation starts, the answer as it streams
    if args.regenerate:
        reply = regenerate(store, args.conversation, settings)
    elif args.edit is not None:
        reply = edit(store, args.conversation, args.edit, args.prompt or "", settings)
    else:
        reply = send(store, args.conversation, args.prompt or "", settings)
    if args.json:
        reply.text()  # the outcome, stored; a failure raised
        print_json({**result_json(target, reply.outcome), "conversation_id": reply.conv_id})
        return 0
    for notice in reply.notices:
        print(f"note: {notice}", file=sys.stderr)
    outcome = print_answer(reply)
    m = outcome.metrics
    print(f"[{outcome.finish_reason}] ttft {m.ttft_s}s, {m.decode_tokens_per_s} tok/s, "
          f"{m.prompt_tokens} in / {m.completion_tokens} out, load {m.load_s}s · conversation {reply.conv_id}",
          file=sys.stderr)
    if m.schema_valid is not None or m.schema_error:
        print(schema_line(m.schema_valid, m.schema_error), file=sys.stderr)
    return 0
