"""A prompt file's `model` as a target, and a target as a `model` GitHub's tools can read."""

from __future__ import annotations

from services.models import catalog
from services.types import Target


def _backends() -> set[str]:
    from services.backends import backend_names

    return set(backend_names())


def target_for_model(model: str) -> str | None:
    """`github:<id>` for a GitHub Models id (`microsoft/phi-3.5-mini-instruct`), a target as is, else None."""
    model = (model or "").strip()
    if not model:
        return None
    if ":" in model:
        t = Target.parse(model)
        if t.backend in _backends():
            return str(t)
    hit = catalog.find("github", model)
    if hit:
        return f"github:{hit.id_for('github')}"
    # publisher/name is the shape of every GitHub Models id (openai/gpt-4o-mini, ...)
    parts = model.split("/")
    if len(parts) == 2 and all(p and " " not in p for p in parts):
        return f"github:{model}"
    return None


def model_for_target(target: str) -> str:
    """The GitHub Models id for a github target; any other target as itself, so reading it back
    gives the same runtime (a local Phi is not silently turned into a cloud call)."""
    t = Target.parse(target)
    return t.model if t.backend == "github" else str(t)


def proposed_target(model: str, listed, default: str) -> str:
    """The first target a prompt file proposes: its own model when that is a listed target, else `default`."""
    mapped = target_for_model(model)
    return mapped if mapped in listed else default
