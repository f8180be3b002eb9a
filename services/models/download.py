"""One download of a local model variant: plan, space check, progress on disk, cancel, install.

The hub work runs in a child process (services/models/hub_fetch.py). Progress is measured on disk: finished
files plus the partial files huggingface_hub writes while downloading.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.models import hub_fetch

from services.models import local as local_models
from services.errors import BackendUnavailable, BadRequest, PlaygroundError
from services.models.local import LocalModel, Variant, human

POLL_S = 0.25
# seconds of history the speed is measured over
SPEED_WINDOW_S = 4.0
# a fetch that fails on the network after some progress is retried this many times (finished files kept)
FETCH_RETRIES = 2
PLAN_TIMEOUT_S = 120
HUB_DEFAULT = "https://huggingface.co"


class Offline(BackendUnavailable):
    """The hub cannot be reached (no network, HF_HUB_OFFLINE, or HF_ENDPOINT down)."""


class NotEnoughSpace(BackendUnavailable):
    """The download would not fit; refused before any byte is written."""


@dataclass(frozen=True)
class PullEvent:
    """One progress report: stage, bytes on disk of the total, speed and time left."""

    stage: str  # planning | downloading | installing | done | failed | cancelled
    done_bytes: int = 0
    total_bytes: int = 0
    speed_bps: float | None = None
    eta_s: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 0.0

    def describe(self) -> str:
        """'1.2 GB of 2.7 GB, 12.3 MB/s, about 2 min left' (or the stage's message)."""
        if self.stage != "downloading":
            return self.message
        parts = [f"{human(self.done_bytes)} of {human(self.total_bytes)}"]
        if self.speed_bps:
            parts.append(f"{human(self.speed_bps)}/s")
        if self.eta_s is not None:
            parts.append(f"about {_duration(self.eta_s)} left")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "done_bytes": self.done_bytes, "total_bytes": self.total_bytes,
                "speed_bps": self.speed_bps, "eta_s": self.eta_s, "message": self.message}


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@dataclass(frozen=True)
class Plan:
    """What a pull would fetch: each file with its size and whether it is already here."""

    variant: Variant
    commit: str
    files: tuple[tuple[str, int, bool], ...]  # (repo path, bytes, will_download)

    @property
    def total_bytes(self) -> int:
        return sum(size for _p, size, _w in self.files)

    @property
    def needed_bytes(self) -> int:
        return sum(size for _p, size, will in self.files if will)


# ---- where things live ------------------------------------------------------------------------

def downloads_dir() -> Path:
    """Partial downloads: a dot-folder, so installed() never lists them."""
    return local_models.models_root() / ".downloads"


def partial_dir(variant: Variant) -> Path:
    return downloads_dir() / variant.key.replace("/", "--")


def quota_bytes() -> int | None:
    """$PHI_PLAYGROUND_MODELS_MAX_GB: the most space downloaded models may take, if set."""
    raw = os.environ.get("PHI_PLAYGROUND_MODELS_MAX_GB", "").strip()
    if not raw:
        return None
    try:
        return int(float(raw) * 1e9)
    except ValueError:
        raise BadRequest(f"PHI_PLAYGROUND_MODELS_MAX_GB must be a number of GB, not {raw!r}.") from None


# downloads running in this process, by variant key: what each has still to write counts as used,
# so two pulls started together cannot both pass the space check and together overrun it
_running: dict[str, tuple[Path, Plan]] = {}
_space_lock = threading.Lock()


def _pending(running) -> int:
    return sum(max(0, p.total_bytes - _bytes_on_disk(dest, p)) for dest, p in running)


def still_to_write() -> int:
    """Bytes the running downloads have yet to put on disk (their plan's total less what is there)."""
    with _space_lock:
        running = list(_running.values())
    return _pending(running)


def _space(pending: int) -> tuple[int, str]:
    root = local_models.models_root()
    free = max(0, local_models.disk_free(root) - pending)
    quota = quota_bytes()
    if quota is not None:
        used = local_models.size_of(root) if root.exists() else 0
        left = max(0, quota - used - pending)
        if left < free:
            running = ", counting downloads still running" if pending else ""
            return left, f"the PHI_PLAYGROUND_MODELS_MAX_GB limit{running}"
    return free, f"the disk holding {root}"


def space_available() -> tuple[int, str]:
    """Bytes a new download may use, and where that limit comes from (running downloads' rest counted)."""
    return _space(still_to_write())


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", HUB_DEFAULT).rstrip("/")


def offline_error(variant: Variant, why: str) -> Offline:
    """One sentence, plus how to put the model here by hand."""
    where = f"the folder {variant.subfolder} of {variant.repo}" if variant.subfolder else (
        f"the file {variant.file} from {variant.repo}" if variant.file else f"the files of {variant.repo}")
    dest = local_models.models_root() / variant.runtime / (
        f"{variant.installed_name}.gguf" if variant.runtime == "gguf" else variant.installed_name)
    return Offline(
        f"Cannot download {variant.label or variant.key}: {why}.",
        hint=f"To install it by hand, copy {where} from a machine with network to this one and run "
             f"`python -m services models add PATH`, or put it at {dest}.",
    )


def _raise_for(result: dict, variant: Variant) -> None:
    kind, detail = result.get("kind"), result.get("detail", "")
    if kind == "offline":
        raise offline_error(variant, "offline mode is on (HF_HUB_OFFLINE=1)")
    if kind == "network":
        raise offline_error(variant, f"the model hub at {endpoint()} cannot be reached from here")
    if kind == "notfound":
        raise BadRequest(f"{variant.repo} (revision {variant.revision}) has no {', '.join(variant.allow_patterns)} "
                         f"on {endpoint()}.", hint="The repository or its files may have moved; check the entry "
                         "in services/models/local_variants.toml or your PHI_PLAYGROUND_VARIANTS file.")
    if kind == "auth":
        raise BackendUnavailable(f"{variant.repo} needs a Hugging Face login or accepted licence.",
                                 hint="Set HF_TOKEN, or accept the model's terms on its page.")
    if kind == "space":
        raise NotEnoughSpace(f"The disk filled up while downloading {variant.label or variant.key}.",
                             hint="Free some space and pull again: finished files are kept.")
    raise BackendUnavailable(f"Downloading {variant.key} failed: {detail}")


def plan(variant: Variant) -> Plan:
    """Ask the hub which files the variant has and how big they are (no file content is fetched)."""
    dest = partial_dir(variant)
    try:
        result = hub_fetch.run("plan", variant, dest, PLAN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise offline_error(variant, f"the model hub at {endpoint()} did not answer within {PLAN_TIMEOUT_S} s") \
            from None
    if not result.get("ok"):
        _raise_for(result, variant)
    files = tuple((f, int(s or 0), bool(w)) for f, s, w in result["files"])
    if not files:
        raise BadRequest(f"{variant.repo} has no files matching {variant.allow_patterns}.")
    return Plan(variant, result.get("commit", ""), files)


def check_space(p: Plan) -> None:
    """Refuse, with the numbers, when what is left to fetch does not fit."""
    _refuse_unless_fits(p, *space_available())


def reserve(p: Plan, dest: Path) -> None:
    """Check the space and count this download as running, in one step (release() ends it)."""
    with _space_lock:
        _refuse_unless_fits(p, *_space(_pending(_running.values())))
        _running[p.variant.key] = (dest, p)


def release(p: Plan) -> None:
    """The download ended (done, failed or cancelled): it no longer holds space it has not written."""
    with _space_lock:
        _running.pop(p.variant.key, None)


def _refuse_unless_fits(p: Plan, available: int, limit: str) -> None:
    if p.needed_bytes > available:
        raise NotEnoughSpace(
            f"{p.variant.label or p.variant.key} needs {human(p.needed_bytes)} more but only "
            f"{human(available)} is available ({limit}).",
            hint="Free some space, delete a model you no longer use, or set PHI_PLAYGROUND_MODELS "
                 "to a roomier disk.",
        )


def _bytes_on_disk(dest: Path, p: Plan) -> int:
    """Finished files of the plan plus partial files (allocated blocks, so preallocation is not progress)."""
    done = 0
    for path, size, _will in p.files:
        f = dest / path
        if f.is_file():
            done += size
    for f in (dest / ".cache").rglob("*.incomplete") if (dest / ".cache").is_dir() else ():
        try:
            st = f.stat()
            done += min(st.st_size, st.st_blocks * 512)
        except OSError:
            pass
    return min(done, p.total_bytes)


# ---- one download ---------------------------------------------------------------------------------

class PullJob:
    """A download running in the background: events, latest state, cancel."""

    def __init__(self, variant: Variant):
        self.variant = variant
        self.latest = PullEvent("planning", message=f"Asking {endpoint()} for {variant.repo}…")
        self.error: PlaygroundError | None = None
        self.result: LocalModel | None = None
        self._events: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name=f"pull-{variant.key}", daemon=True)
        self._samples: list[tuple[float, int]] = []

    # public API
    def start(self) -> PullJob:
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        return self.latest.stage in ("done", "failed", "cancelled")

    def cancel(self) -> None:
        """Stop now; finished files are kept so the same pull resumes later."""
        self._cancel.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def events(self):
        """Every event in order until the job ends (blocking; for the CLI)."""
        while True:
            ev = self._events.get()
            yield ev
            if ev.stage in ("done", "failed", "cancelled"):
                return

    # internals
    def _emit(self, ev: PullEvent) -> None:
        self.latest = ev
        self._events.put(ev)

    def _progress(self, done: int, total: int) -> PullEvent:
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.pop(0)
        t0, d0 = self._samples[0]
        speed = (done - d0) / (now - t0) if now - t0 > 0.2 else None
        eta = (total - done) / speed if speed else None
        return PullEvent("downloading", done, total, speed, eta)

    def _run(self) -> None:
        lock_path = downloads_dir() / f"{self.variant.key.replace('/', '--')}.lock"
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(lock_path, "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise BadRequest(f"{self.variant.key} is already being downloaded by another process.") \
                        from None
                self._pull()
        except PlaygroundError as exc:
            self.error = exc
            self._emit(PullEvent("failed", self.latest.done_bytes, self.latest.total_bytes,
                                 message=exc.user_message()))
        except Exception as exc:  # never lose a failure in the thread
            self.error = BackendUnavailable(f"Downloading {self.variant.key} failed: {exc}")
            self._emit(PullEvent("failed", message=self.error.user_message()))

    def _pull(self) -> None:
        v = self.variant
        existing = _installed_for(v)
        if existing is not None:
            self.result = existing
            self._emit(PullEvent("done", existing.size, existing.size,
                                 message=f"Already installed as {existing.target}."))
            return
        dest = partial_dir(v)
        fresh = not dest.exists()
        self._emit(self.latest)
        try:
            p = plan(v)
            reserve(p, dest)
        except PlaygroundError:
            if fresh:  # nothing of ours was there before: leave no trace
                shutil.rmtree(dest, ignore_errors=True)
            raise
        try:
            self._download(p, dest)
        finally:
            release(p)

    def _download(self, p: Plan, dest: Path) -> None:
        v = self.variant
        for stale in (dest / ".cache").rglob("*.incomplete") if (dest / ".cache").is_dir() else ():
            stale.unlink(missing_ok=True)  # a cancelled process's partial file is never reused
        for attempt in range(FETCH_RETRIES + 1):
            result = self._fetch(p, dest)
            if result is None:
                self._emit(PullEvent("cancelled", self.latest.done_bytes, p.total_bytes,
                                     message="Cancelled; pull again to resume (finished files are kept)."))
                return
            if result.get("ok") or result.get("kind") != "network" or attempt == FETCH_RETRIES:
                break
        if not result.get("ok"):
            _raise_for(result, v)
        self._emit(PullEvent("installing", p.total_bytes, p.total_bytes, message="Installing…"))
        self.result = install(v, dest, p)
        release(p)  # installed: its bytes are counted on disk now, not as still to write
        for note in downloads_dir().glob(f"{v.key.replace('/', '--')}.*"):
            if note.suffix in (".log", ".out"):
                note.unlink(missing_ok=True)  # kept only when something went wrong
        self._emit(PullEvent("done", p.total_bytes, p.total_bytes,
                             message=f"Installed as {self.result.target}."))

    def _fetch(self, p: Plan, dest: Path) -> dict | None:
        """Run the download child, reporting progress; None when cancelled."""
        log = downloads_dir() / f"{self.variant.key.replace('/', '--')}.log"
        with open(log, "w") as err, open(log.with_suffix(".out"), "w+") as out:
            self._proc = subprocess.Popen(hub_fetch.command("fetch", self.variant, dest), stdout=out,
                                          stderr=err, env=hub_fetch.environment(), cwd=hub_fetch.ROOT)
            last = -1
            while True:
                rc = self._proc.poll()
                if self._cancel.is_set():
                    self._proc.terminate()
                    self._proc.wait(10)
                    return None
                # never backwards: a file renamed from .incomplete to its name between the two looks
                # of _bytes_on_disk is briefly in neither, and the bar would jump back by its size
                done = max(_bytes_on_disk(dest, p), last)
                if done != last or rc is not None:
                    self._emit(self._progress(done, p.total_bytes))
                    last = done
                if rc is not None:
                    break
                time.sleep(POLL_S)
            out.seek(0)
            return hub_fetch.parse(out.read(), rc)


def _installed_for(v: Variant) -> LocalModel | None:
    path = local_models.find(v.runtime, v.installed_name)
    if path is None:
        return None
    return next((m for m in local_models.all_installed() if m.kind == v.runtime and m.path == path), None)


def install(v: Variant, dest: Path, p: Plan) -> LocalModel:
    """Check the downloaded files are a model, then move them into place in one rename."""
    shutil.rmtree(dest / ".cache", ignore_errors=True)  # huggingface_hub's local-dir bookkeeping
    src = dest / v.subfolder if v.subfolder else (dest / v.file if v.file else dest)
    kind, _ = local_models.inspect(src)
    if kind != v.runtime:
        raise BackendUnavailable(f"{v.repo} did not give a {v.runtime} model (found a {kind} one).")
    final_dir = local_models.models_root() / v.runtime
    final_dir.mkdir(parents=True, exist_ok=True)
    final = final_dir / (f"{v.installed_name}.gguf" if v.runtime == "gguf" else v.installed_name)
    os.replace(src, final)
    shutil.rmtree(dest, ignore_errors=True)
    source = {"repo": v.repo, "revision": v.revision, "commit": p.commit, "variant": v.key,
              "patterns": v.allow_patterns}
    local_models.source_path(v.runtime, v.installed_name).write_text(json.dumps(source))
    return LocalModel(v.runtime, v.installed_name, final, local_models.size_of(final), False, source)
