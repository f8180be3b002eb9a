"""Local models stay within a memory budget: least recently used unloaded first, never one that is answering.

Each local backend (onnx, transformers, llama.cpp) mixes in ResidentModels, which gives it the public
`loaded()`, `unload(key)` and `reset_cache()`, and wraps its actual loading in `room(backend, key, bytes)`. The budget is
PHI_PLAYGROUND_MODEL_MEMORY_GB, by default half the machine's RAM. A model that is answering holds its
lock, so `unload` refuses it; when the idle models cannot make room, the load is refused with a sentence.
A model alone may exceed the budget (the budget bounds how many stay loaded, not whether one can run).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.backends import instances, limits
from services.backends.base import Resident
from services.errors import BackendUnavailable, BadRequest
from services.models.local import machine_memory

# the default budget, as a share of physical RAM (the rest is for the app, the OS and page cache)
DEFAULT_SHARE = 0.5
GB = 1e9

_lock = threading.Lock()
# loads in progress, (backend name, key) -> bytes: counted before the weights are in memory
_loading: dict[tuple[str, str], int] = {}


def budget_bytes() -> int | None:
    """The budget in bytes: $PHI_PLAYGROUND_MODEL_MEMORY_GB, else DEFAULT_SHARE of RAM (None: unknown RAM)."""
    raw = os.environ.get("PHI_PLAYGROUND_MODEL_MEMORY_GB", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise BadRequest(f"PHI_PLAYGROUND_MODEL_MEMORY_GB must be a positive number of GB, not {raw!r}.")
        return int(value * GB)
    ram = machine_memory()
    return int(ram * DEFAULT_SHARE) if ram else None


class ResidentModels:
    """Mixed into a local backend whose `_models` maps a key to a loaded model with a generation `lock`."""

    name: str
    _models: dict

    def _stats(self) -> dict:
        # key -> [bytes, last used]; created on first use so backends keep their own __init__
        return self.__dict__.setdefault("_resident_stats", {})

    def _mark_used(self, key, nbytes: int | None = None) -> None:
        stats = self._stats().setdefault(key, [0, 0.0])
        stats[1] = time.monotonic()
        if nbytes is not None:
            stats[0] = int(nbytes)

    def keep(self, key, model, nbytes: int) -> None:
        """Hold a freshly loaded model under its key, counting its bytes against the budget."""
        self._models[key] = model
        self._mark_used(key, nbytes)

    def is_vision(self, model) -> bool:
        """Whether a held model reads images (a backend with vision models answers per model)."""
        return False

    def forget_state(self, model) -> None:
        """Drop the conversation state one held model keeps (the caller holds its lock); none by default."""

    def loaded(self) -> list[Resident]:
        """Every loaded model: its key (as text), estimated bytes, last use and whether it is answering now."""
        out = []
        for key, model in list(self._models.items()):
            nbytes, used = self._stats().get(key, (0, 0.0))
            lock = getattr(model, "lock", None)
            out.append(Resident(self.name, str(key), nbytes, used, bool(lock is not None and lock.locked()),
                                self.is_vision(model)))
        return out

    def reset_cache(self) -> None:
        """Forget every held model's conversation state, each once its current answer is done."""
        for model in list(self._models.values()):
            lock = getattr(model, "lock", None)
            if lock is None:
                self.forget_state(model)
                continue
            limits.acquire(lock)
            try:
                self.forget_state(model)
            finally:
                lock.release()

    def health(self) -> None:
        """A local runtime has no remote provider to be reachable or not."""
        return None

    def unload(self, key: str) -> bool:
        """Drop a loaded model; False (and nothing dropped) while it is answering."""
        for k, model in list(self._models.items()):
            if str(k) != str(key):
                continue
            lock = getattr(model, "lock", None)
            if lock is not None and not lock.acquire(blocking=False):
                return False
            try:
                self._models.pop(k, None)
                self._stats().pop(k, None)
            finally:
                if lock is not None:
                    lock.release()
        return True


def residents() -> list[tuple[object, Resident]]:
    """(backend, model) for every model loaded by a backend instance in this process."""
    return [(b, r) for b in instances() if isinstance(b, ResidentModels) for r in b.loaded()]


def _gb(n: int) -> str:
    return f"{n / GB:.1f} GB"


@contextmanager
def room(backend: ResidentModels, key, need: int) -> Iterator[None]:
    """Make room for a model of `need` bytes (unloading idle ones, oldest use first), then let it load."""
    budget = budget_bytes()
    slot = (backend.name, str(key))
    with _lock:
        if budget is not None:
            held = [(b, r) for b, r in residents() if not (b is backend and r.key == str(key))]
            total = sum(r.bytes for _b, r in held) + sum(_loading.values())
            freed = False
            for b, r in sorted(held, key=lambda br: br[1].last_used):
                if total + need <= budget:
                    break
                if b.unload(r.key):
                    total -= r.bytes
                    freed = True
            if freed:
                gc.collect()  # let the runtime free the weights before the next ones arrive
            if total + need > budget and total > 0:
                busy = ", ".join(f"{r.backend}:{r.key}" for _b, r in held if r.busy) or "other loads"
                raise BackendUnavailable(
                    f"Loading this model (about {_gb(need)}) would take local models past their "
                    f"{_gb(budget)} memory budget while {busy} are answering.",
                    hint="Try again when they finish, or raise PHI_PLAYGROUND_MODEL_MEMORY_GB.")
        _loading[slot] = need
    try:
        yield
    finally:
        with _lock:
            _loading.pop(slot, None)


def weights_bytes(folder, *, float32: bool = True) -> int:
    """Bytes a transformers model's weights take once loaded: their size on disk, doubled when
    16-bit weights load as float32 (0 when the folder is not here)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    on_disk = sum(folder_bytes(f) for f in folder.iterdir() if f.suffix in (".safetensors", ".bin"))
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        cfg = {}
    stored = str(cfg.get("torch_dtype") or cfg.get("dtype") or "float32")
    return on_disk * 2 if float32 and "16" in stored else on_disk


def folder_bytes(path) -> int:
    """Bytes of weights on disk: what a runtime that maps or copies them will hold (0 when unknown).

    Links are followed: a model added on the Models page is a link to the user's own file or folder,
    and its weights take memory all the same (size_of counts links as nothing, for disk space).
    """
    try:
        p = Path(path).resolve()
        if p.is_file():
            return p.stat().st_size
        total = 0
        for dirpath, _dirs, files in os.walk(p):
            for name in files:
                try:
                    total += (Path(dirpath) / name).stat().st_size  # stat follows a link to its target
                except OSError:
                    pass  # a dangling link weighs nothing
        return total
    except OSError:
        return 0
