"""`import`: read a JSON export and store it as a new conversation; prints the new id."""

from __future__ import annotations

import sys
from pathlib import Path

from services.conversations.import_export import MAX_IMPORT_BYTES, import_json
from services.errors import BadRequest
from services.conversations.store import open_store


def register(sub) -> None:
    p = sub.add_parser("import", help="import a JSON export as a new conversation")
    p.add_argument("file", help="a file written by `export ID --format json` (or - for stdin)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.file == "-":
        data = sys.stdin.buffer.read(MAX_IMPORT_BYTES + 1)
    else:
        path = Path(args.file)
        if not path.is_file():
            raise BadRequest(f"No such file: {args.file}.")
        with path.open("rb") as fh:
            # read one byte past the cap so an oversized file is refused without loading all of it
            data = fh.read(MAX_IMPORT_BYTES + 1)
    store = open_store()
    if store.notice:
        print(f"note: {store.notice}", file=sys.stderr)
    print(import_json(store, data))
    return 0
