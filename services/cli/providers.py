"""`providers`: each provider's state (configured, key masked, reachable); `--check`, `--pull`."""

from __future__ import annotations

import sys

from services.cli.common import print_json
from services.provider_status import all_statuses, pull


def register(sub) -> None:
    p = sub.add_parser("providers", help="provider state: configured, key (masked), reachable")
    p.add_argument("--check", action="store_true", help="talk to each configured provider now")
    p.add_argument("--pull", metavar="MODEL", help="pull an Ollama model (e.g. phi3.5) with progress")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _progress(status: str, fraction: float | None) -> None:
    pct = f"{fraction:5.0%}" if fraction is not None else "     "
    print(f"[pull {pct}] {status}", file=sys.stderr, flush=True)


def run(args) -> int:
    if args.pull:
        pull(args.pull, _progress)
    statuses = all_statuses(check=args.check)
    if args.json:
        print_json({"providers": [s.to_dict() for s in statuses]})
        return 0
    for s in statuses:
        state = "ready" if s.configured and s.reachable is not False else "not ready"
        print(f"{s.title} [{s.name}]: {state}")
        if s.needs:
            print(f"  {s.needs}")
        for st in s.settings:
            shown = f"{st.masked} (from {st.source})" if st.is_set else "not set"
            print(f"  {st.name}: {shown}" + (f" ({st.note})" if st.note else ""))
        if s.base_url:
            print(f"  url: {s.base_url}")
        if s.last_error:
            print(f"  last error: {s.last_error}")
        ok = sum(1 for t in s.targets if t.available)
        print(f"  targets: {ok} available of {len(s.targets)}")
    return 0
