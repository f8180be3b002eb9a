"""CLI entry point: python -m services COMMAND ... (everything a page can do)."""

from __future__ import annotations

import argparse
import importlib
import keyword
import sys

from services.errors import BadRequest, PlaygroundError

# one module per command under services/cli/, each with register(subparsers)
COMMANDS = ["targets", "chat", "provision", "compare", "vision", "conversations", "export", "import", "models", "moe", "providers", "eval"]


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree with every command registered."""
    parser = argparse.ArgumentParser(prog="python -m services", description="Phi Playground from the shell.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        # a command named like a Python keyword lives in a module with a trailing underscore (import_)
        module = name + "_" if keyword.iskeyword(name) else name
        importlib.import_module(f"services.cli.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors become one readable line on stderr and a non-zero exit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BadRequest as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 2
    except PlaygroundError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
