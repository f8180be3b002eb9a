"""Every target of every backend, available or not, with the reason."""

from __future__ import annotations

from services.backends import backend_names, get_backend
from services.types import TargetInfo


def list_targets() -> list[TargetInfo]:
    """All targets; a backend that fails to list itself shows up as unavailable, never crashes."""
    out: list[TargetInfo] = []
    for name in backend_names():
        try:
            out.extend(get_backend(name).list_targets())
        except Exception as exc:  # one broken backend must not hide the others
            out.append(TargetInfo(f"{name}:*", False, f"{type(exc).__name__}: {exc}"))
    return out
