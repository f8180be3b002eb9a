"""`provision`: build the embedded model's caches, with progress on stderr."""

from __future__ import annotations

from services.models import embedded
from services.cli.common import stderr_progress


def register(sub) -> None:
    p = sub.add_parser("provision", help="build the embedded model caches (transformers + ONNX)")
    p.set_defaults(func=run)


def run(args) -> int:
    paths = embedded.provision(stderr_progress)
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0
