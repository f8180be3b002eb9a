"""A prompt file's `model` and `modelId` as targets (resolved as gh models eval resolves them), whether
each can answer here, and a target as a `model` GitHub's tools can read."""

from __future__ import annotations

from services.backends import backend_names, get_backend
from services.errors import PlaygroundError
from services.models import catalog
from services.types import Target

# the model gh models eval's built-in judges name; here they use the default judge (see judge_targets)
REFERENCE_BUILTIN_JUDGE = "openai/gpt-4o"
PICK_TARGET = "choose a target with --target TARGET (`python -m services targets` lists them) or in the Evaluate page's Targets picker"
PICK_JUDGE = "choose a judge with --judge TARGET or in the Evaluate page's Judge picker"


def _backends() -> set[str]:
    return set(backend_names())


def target_for_model(model: str) -> str | None:
    """The target a file's `model` (or an llm evaluator's `modelId`) names; None when it names none.

    A target of this app (`onnx:smollm2-135m-instruct`) is itself; anything else is what gh models eval
    sends it to, a GitHub Models id, with the catalog's spelling when the catalog knows it
    (`gpt-4o-mini` and `azureml://...` are sent as written, as the reference sends them).
    """
    model = (model or "").strip()
    if not model:
        return None
    if ":" in model:
        try:
            t = Target.parse(model)
        except PlaygroundError:
            t = None
        if t is not None and t.backend in _backends():
            return str(t)
    hit = catalog.find("github", model)
    return f"github:{hit.id_for('github') if hit else model}"


def model_for_target(target: str) -> str:
    """The GitHub Models id for a github target; any other target as itself, so reading it back
    gives the same runtime (a local Phi is not silently turned into a cloud call)."""
    t = Target.parse(target)
    return t.model if t.backend == "github" else str(t)


def why_unreachable(target: str, listed: dict | None = None) -> str | None:
    """Why this target cannot answer here (no key, not installed, not listed), or None when it can.

    `listed` (target -> TargetInfo, as a page already holds them) saves asking the backend again.
    """
    t = Target.parse(target)
    if t.backend not in _backends():
        return f"there is no {t.backend} backend."
    if listed is not None:
        infos = [i for i in listed.values() if i.target.split(":", 1)[0] == t.backend]
    else:
        try:
            infos = get_backend(t.backend).list_targets()
        except Exception as exc:  # noqa: BLE001 - a backend that cannot list itself cannot answer either
            return f"{t.backend} cannot list its models ({type(exc).__name__})."
    want = str(t).lower()
    for info in infos:
        if info.target.lower() == want:
            return None if info.available else info.reason.rstrip(".") + "."
    down = [i for i in infos if not i.available]
    if down and len(down) == len(infos):
        return down[0].reason.rstrip(".") + "."
    return f"{t.backend} does not list {t.model}."


def propose(model: str, listed: dict, default: str) -> tuple[str, str]:
    """The first target for a file: its own model when that target can answer, else `default`, with the
    sentence saying why (empty when the file's model was taken). `listed`: target -> TargetInfo."""
    mapped = target_for_model(model)
    if mapped is None:
        return default, f"The file names no model, so {default} (the embedded model) is chosen; pick any target instead."
    why = why_unreachable(mapped, listed)
    if why is None:
        return next(t for t in listed if t.lower() == mapped.lower()), ""
    return default, (f"The file's model {model} ({mapped}) cannot answer here: {why} {default} (the embedded "
                     "model) is chosen instead; pick another target in the sidebar.")


def judge_targets(evaluators, judge: str | None, default: str) -> dict[str, str]:
    """The judge target of each judge evaluator: `judge` for all, else its modelId, else `default`."""
    out = {}
    for e in evaluators:
        if e.kind == "llm":
            out[e.name] = judge or target_for_model(e.config.get("modelId", "")) or default
        elif e.kind == "uses":
            out[e.name] = judge or default
    return out


def judge_notes(evaluators, judge: str | None, default: str) -> list[str]:
    """Which judge answers where the file names none (or the reference would use another)."""
    if judge:
        return []
    out = []
    builtins = [e.name for e in evaluators if e.kind == "uses"]
    if builtins:
        out.append(f"Built-in judges ({', '.join(builtins)}) are asked of {default} (gh models eval asks "
                   f"{REFERENCE_BUILTIN_JUDGE}); {PICK_JUDGE}.")
    blank = [e.name for e in evaluators if e.kind == "llm" and not e.config.get("modelId")]
    if blank:
        out.append(f"{', '.join(repr(n) for n in blank)} name no modelId, so {default} judges them; {PICK_JUDGE}.")
    return out


def unreachable_judges(evaluators, judge: str | None, listed: dict | None = None) -> list[str]:
    """One sentence per judge a file's modelId names that cannot answer here (nothing when `judge` is set)."""
    if judge:
        return []
    out, seen = [], set()
    for e in evaluators:
        model = e.config.get("modelId", "") if e.kind == "llm" else ""
        target = target_for_model(model)
        if not target or target in seen:
            continue
        seen.add(target)
        why = why_unreachable(target, listed)
        if why:
            out.append(f"Evaluator {e.name!r} names the judge {model} ({target}), which cannot answer here: {why} "
                       f"Nothing was sent; {PICK_JUDGE}.")
    return out


def unreachable_model(model: str, target: str) -> str | None:
    """The sentence for a file's own model that cannot answer here, or None."""
    why = why_unreachable(target)
    if why is None:
        return None
    return f"The file's model {model} runs as {target}, which cannot answer here: {why} Nothing was sent; {PICK_TARGET}."
