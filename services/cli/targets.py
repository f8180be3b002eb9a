"""`targets`: every target, available or not, and why."""

from __future__ import annotations

from services.cli.common import print_json
from services.targets import list_targets


def register(sub) -> None:
    p = sub.add_parser("targets", help="list every target with availability")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    infos = list_targets()
    if args.json:
        print_json({"targets": [i.to_dict() for i in infos]})
        return 0
    for i in infos:
        state = "yes" if i.available else "no "
        print(f"{state}  {i.target:55s} {i.reason}")
    return 0
