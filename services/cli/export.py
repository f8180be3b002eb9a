"""`export`: print a stored conversation as JSON (lossless, re-importable) or Markdown."""

from __future__ import annotations

import sys

from services.conversations.import_export import export_json_text, export_markdown
from services.conversations.store import open_store


def register(sub) -> None:
    p = sub.add_parser("export", help="print a conversation as JSON or Markdown")
    p.add_argument("id", help="conversation id (see `conversations`)")
    p.add_argument("--format", choices=("json", "md"), default="json")
    p.set_defaults(func=run)


def run(args) -> int:
    store = open_store()
    if store.notice:
        print(f"note: {store.notice}", file=sys.stderr)
    text = export_json_text(store, args.id) if args.format == "json" else export_markdown(store, args.id)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
