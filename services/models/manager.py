"""Put Phi models on this machine: downloads (shared by every session), delete, add your own, listing.

One download is services/models/download.py; the hub itself is talked to by services/models/hub_fetch.py.
"""

from __future__ import annotations

import gc
import shutil
import threading

from services.errors import BackendUnavailable, BadRequest
from services.models import fit as fit_mod, local as local_models
from services.models.local import LocalModel, Variant

# the download layer's names are part of this module's API (pages, CLI and tests use them from here)
from services.models.download import (  # noqa: F401
    NotEnoughSpace,
    Offline,
    Plan,
    PullEvent,
    PullJob,
    check_space,
    downloads_dir,
    install,
    offline_error,
    partial_dir,
    plan,
    quota_bytes,
    space_available,
)
from services.backends import backend_names, get_backend


class ModelInUse(BadRequest):
    """The model is generating an answer right now."""


# ---- jobs shared by every session of the app --------------------------------------------------------

_jobs: dict[str, PullJob] = {}
_jobs_lock = threading.Lock()


def start_pull(model: str, variant: str | None = None) -> PullJob:
    """Start (or return the running) download of a variant."""
    v = model if isinstance(model, Variant) else local_models.find_variant(model, variant)
    with _jobs_lock:
        job = _jobs.get(v.key)
        if job is None or job.finished:
            job = _jobs[v.key] = PullJob(v).start()
        return job


def jobs() -> list[PullJob]:
    """Running and recently finished downloads."""
    with _jobs_lock:
        return list(_jobs.values())


def forget(job: PullJob) -> None:
    """Drop a finished job from the list."""
    with _jobs_lock:
        if _jobs.get(job.variant.key) is job and job.finished:
            del _jobs[job.variant.key]


def pull(model: str | Variant, variant: str | None = None, on_event=None) -> LocalModel:
    """Download and install, blocking; KeyboardInterrupt cancels and re-raises."""
    job = start_pull(model, variant)
    try:
        for ev in job.events():
            if on_event:
                on_event(ev)
    except KeyboardInterrupt:
        job.cancel()
        job.wait(15)
        raise
    if job.error is not None:
        raise job.error
    if job.result is None:
        raise BackendUnavailable("The download was cancelled; pull again to resume.")
    return job.result


# ---- delete, add, list ------------------------------------------------------------------------------

def _unload(model: LocalModel) -> None:
    """Drop the model, text or vision, from its runtime's memory; refuse while it is generating."""
    backend = get_backend(local_models.BACKEND_OF_KIND[model.kind])
    keys = {model.name, str(model.path), str(model.path.resolve())}
    for resident in backend.loaded():
        if resident.key in keys and not backend.unload(resident.key):
            raise ModelInUse(f"{model.target} is answering right now; stop that answer or wait for it, "
                             "then delete it.")
    gc.collect()  # let the runtime free the weights before the files go


def remove(ref: str) -> tuple[LocalModel, int]:
    """Delete an installed model (only the link for added ones); returns it and the bytes freed."""
    model = local_models.resolve_installed(ref)
    _unload(model)
    return model, local_models.delete_files(model)


def discard_partial(model: str | Variant, variant: str | None = None) -> int:
    """Delete an interrupted download instead of resuming it; bytes freed."""
    v = model if isinstance(model, Variant) else local_models.find_variant(model, variant)
    if any(j.variant.key == v.key and not j.finished for j in jobs()):
        raise BadRequest(f"{v.key} is downloading right now; cancel it first.")
    freed = partial_bytes(v)
    if not freed:
        raise BadRequest(f"There is no interrupted download of {v.key}.")
    shutil.rmtree(partial_dir(v))
    return freed


def add(path: str, name: str | None = None) -> LocalModel:
    """Bring your own: check the path is a model, then make it a target (nothing is copied or run)."""
    return local_models.add(path, name)


def partial_bytes(v: Variant) -> int:
    """Bytes of an interrupted download of this variant that a new pull would keep."""
    dest = partial_dir(v)
    return local_models.size_of(dest) if dest.is_dir() else 0


def overview(measured_file=None) -> dict:
    """Everything the Models page and `models` show: variants with their fit and expected speed here,
    installed models, space, Ollama models."""
    installed = local_models.all_installed()
    by_target = {m.target: m for m in installed}
    here = fit_mod.here(measured_file)
    rows = []
    variants = local_models.variants()
    fits = {v.key: fit_mod.for_variant(v, here, by_target.get(v.target)) for v in variants}
    # per model, the variant that fits and the measurements expect to decode fastest on this machine
    best = fit_mod.recommended(list(fits.items()))
    for v in variants:
        m = by_target.get(v.target)
        rows.append({**v.to_dict(), "installed": m is not None, "partial_bytes": partial_bytes(v),
                     "size_bytes": m.size if m else None, "fit": fits[v.key].to_dict(),
                     "recommended": v.key in best})
    variant_of = {v.target: v for v in variants}
    available, limit = space_available()
    return {"root": str(local_models.models_root()), "free_bytes": available, "free_limit": limit,
            "memory_bytes": local_models.machine_memory(), "variants": rows, "here": here.to_dict(),
            "installed": [{**m.to_dict(), "fit": fit_mod.for_installed(m, here, variant_of.get(m.target)).to_dict()}
                          for m in installed],
            "ollama": _ollama_models()}


def _ollama_models() -> list[dict]:
    """Models pulled into Ollama (from the Ollama backend, when it is registered and running)."""
    if "ollama" not in backend_names():
        return []
    try:
        return [i.to_dict() for i in get_backend("ollama").list_targets() if i.available]
    except Exception:  # Ollama not running is normal here, never an error on this page
        return []
