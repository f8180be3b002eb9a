"""`conversations`: list (or search) the stored conversations, newest first."""

from __future__ import annotations

import sys
import time

from services.cli.common import print_json
from services.store import open_store


def register(sub) -> None:
    p = sub.add_parser("conversations", help="list stored conversations, newest first")
    p.add_argument("--search", default="", help="only conversations whose title or messages contain these words")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store()
    if store.notice:
        print(f"note: {store.notice}", file=sys.stderr)
    rows = store.search(args.search, args.limit) if args.search.strip() else store.list_conversations(args.limit)
    if args.json:
        print_json({"conversations": [
            {k: c[k] for k in ("id", "title", "created", "updated", "target", "n_messages")} for c in rows]})
        return 0
    if not rows:
        print("no conversations" + (f" match {args.search!r}" if args.search.strip() else " yet"), file=sys.stderr)
    for c in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c["updated"]))
        print(f"{c['id']}  {when}  {c['n_messages']:3d} msgs  {c['title'] or '(untitled)'}")
    return 0
