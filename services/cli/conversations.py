"""`conversations`: list, search, show, rename, switch branch, delete stored conversations."""

from __future__ import annotations

import sys
import time

from services.conversations import branches as convs
from services.cli.common import print_json
from services.conversations.rows import Conversation, Turn
from services.errors import BadRequest
from services.conversations.store import open_store


def register(sub) -> None:
    p = sub.add_parser("conversations", help="list, show, rename, switch or delete stored conversations")
    p.add_argument("--search", default="", help="only conversations whose title or messages contain these words")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    actions = p.add_subparsers(dest="action", metavar="[show|rename|switch|delete]")
    show = actions.add_parser("show", help="the visible branch, with message ids and versions")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    rename = actions.add_parser("rename", help="give a conversation a new title")
    rename.add_argument("id")
    rename.add_argument("title")
    switch = actions.add_parser("switch", help="show the branch through MESSAGE (an earlier answer or edit)")
    switch.add_argument("id")
    switch.add_argument("message", type=int)
    delete = actions.add_parser("delete", help="delete a conversation and its messages (needs --yes)")
    delete.add_argument("id")
    delete.add_argument("--yes", action="store_true", help="confirm: deleting cannot be undone")
    p.set_defaults(func=run)


def header_json(c: Conversation) -> dict:
    """A conversation in the list's --json output."""
    return {"id": c.id, "kind": c.kind, "title": c.title, "created": c.created, "updated": c.updated,
            "target": c.target, "n_messages": c.n_messages}


def turn_json(t: Turn) -> dict:
    """A message on the visible branch in `show --json`."""
    m = t.message
    return {"id": m.id, "parent_id": m.parent_id, "role": m.role, "content": m.content, "target": m.target,
            "finish_reason": m.finish_reason, "metrics": m.metrics.to_dict() if m.metrics else None,
            "siblings": list(t.siblings), "index": t.index}


def _list(store, args) -> int:
    rows = store.search(args.search, args.limit) if args.search.strip() else store.list_conversations(args.limit)
    if args.json:
        print_json({"conversations": [header_json(c) for c in rows]})
        return 0
    if not rows:
        print("no conversations" + (f" match {args.search!r}" if args.search.strip() else " yet"), file=sys.stderr)
    for c in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated))
        kind = "" if c.kind == "chat" else f"[{c.kind}] "
        print(f"{c.id}  {when}  {c.n_messages:3d} msgs  {kind}{c.title or '(untitled)'}")
    return 0


def _show(store, args) -> int:
    conv = store.require_conversation(args.id)
    turns = convs.path(store, args.id)
    if args.json:
        print_json({"conversation": {"id": conv.id, "kind": conv.kind, "title": conv.title, "target": conv.target,
                                     "system": conv.system, "params": conv.params.to_dict() if conv.params else {}},
                    "messages": [turn_json(t) for t in turns]})
        return 0
    print(f"# {conv.title or '(untitled)'}  [{conv.id}]")
    for t in turns:
        m = t.message
        version = f"  version {t.index + 1}/{len(t.siblings)}" if len(t.siblings) > 1 else ""
        flag = f"  [{m.finish_reason}]" if m.stopped_early else ""
        print(f"\n--- {m.id} {m.role}{version}{flag}")
        print(m.content)
    return 0


def run(args) -> int:
    store = open_store()
    if store.notice:
        print(f"note: {store.notice}", file=sys.stderr)
    if args.action is None:
        return _list(store, args)
    if args.action == "show":
        return _show(store, args)
    if args.action == "rename":
        store.require_conversation(args.id)
        store.rename_conversation(args.id, args.title)
    elif args.action == "switch":
        convs.switch_to(store, args.id, args.message)
    elif args.action == "delete":
        store.require_conversation(args.id)
        if not args.yes:
            raise BadRequest(f"Deleting {args.id} cannot be undone; add --yes to confirm.")
        store.delete_conversation(args.id)
    print(args.id)
    return 0
