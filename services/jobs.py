"""The job runner for grids of answers (Compare's columns, Evaluate's trials): each cell has a target; local
targets run one at a time on the run's lock, remote ones concurrently within their provider's limits, every
worker in a copy of the caller's context; Stop keeps what finished; progress comes as events."""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from services.backends import get_backend
from services.streaming import Answer, AnswerOutcome
from services.types import Target

# per provider: requests at once, and requests a minute (None: no pacing). GitHub Models' free
# tier for Phi ("low" models) allows 15 a minute and 5 at once; NVIDIA's hosted NIM 40 a minute.
REMOTE_LIMITS = {"github": (4, 15), "nim": (4, 40)}
DEFAULT_REMOTE_LIMIT = (4, None)


def remote_limit(target: str) -> tuple[int, int | None]:
    """Requests at once and requests a minute for a remote target's provider."""
    return REMOTE_LIMITS.get(Target.parse(target).backend, DEFAULT_REMOTE_LIMIT)


def is_local(target: str) -> bool:
    """Whether a target runs on this machine's CPU (unknown targets count as remote: they fail fast)."""
    try:
        t = Target.parse(target)
        return bool(get_backend(t.backend).capabilities(t.model).local)
    except Exception:  # an unknown backend or broken SDK must not stop the plan; its cell reports it
        return False


def import_shared_sdks(targets: Sequence[str]) -> None:
    """Finish importing transformers in this thread before the workers start.

    Its lazy top-level module is not safe to import from two threads at once: while one column
    listed targets (which imports transformers) the other failed with "cannot import name
    'AutoModelForCausalLM'", reported as "transformers or torch is not installed".
    """
    if not any(Target.parse(t).backend == "transformers" for t in targets):  # spec targets parse
        return
    try:
        import transformers

        transformers.AutoModelForCausalLM, transformers.AutoTokenizer  # noqa: B018 - resolves the lazy names
    except Exception:  # noqa: BLE001 - a missing SDK is reported by its own cell
        pass


def lanes(targets: Sequence[str], local: Sequence[bool], *, concurrent_local: bool = False) -> list[list[int]]:
    """The cells (indices into targets) each lane runs in order: all local cells in one lane (each in its
    own with concurrent_local), then one lane per remote target, its workers sharing its cells."""
    remote: dict[str, list[int]] = {}
    for i, t in enumerate(targets):
        if not local[i]:
            remote.setdefault(t, []).append(i)
    local_cells = [i for i, flag in enumerate(local) if flag]
    if concurrent_local:
        return [[i] for i in local_cells] + list(remote.values())
    return ([local_cells] if local_cells else []) + list(remote.values())


@dataclass(frozen=True)
class JobEvent:
    """Progress of cell `index`: it started, sent a piece of text ("token"), or ended ("done" or "error")."""

    index: int
    kind: str
    text: str = ""


class Pace:
    """Spaces request starts to a per-minute limit, shared by every worker of one provider."""

    def __init__(self, per_minute: int | None):
        self.gap = 60.0 / per_minute if per_minute else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """Books the next start slot at or after `now` and returns how long to wait for it."""
        with self.lock:
            start = max(now, self.next)
            # slots follow one schedule: a start that woke late does not push the later ones back
            self.next = start + self.gap
        return start - now

    def wait(self, cancel: threading.Event) -> None:
        if self.gap:
            cancel.wait(self.reserve(time.monotonic()))


class JobRun:
    """A grid of cells on worker threads: start() it, iterate its events, close() to stop early.

    work(i) runs cell i in a worker thread and returns its error message (None when it went well); it
    reads answers with read() inside slot(target) and reports with emit(). A bug in work(i) becomes
    that cell's error. `uses`: other targets the cells ask (judges), settled up front like the cells'.
    """

    def __init__(self, targets: Sequence[str], work: Callable[[int], str | None], *, uses: Sequence[str] = (),
                 concurrent_local: bool = False, paced: bool = False, name: str = "job"):
        self.targets = tuple(targets)
        self.local = {t: is_local(t) for t in (*dict.fromkeys(self.targets), *uses)}
        self.lanes = lanes(self.targets, [self.local[t] for t in self.targets], concurrent_local=concurrent_local)
        self.concurrent_local = concurrent_local
        self.paced = paced
        self.stopped = False
        self.started = time.time()
        self.wall_s: float | None = None
        self._work = work
        self._name = name
        self._local_lock = threading.Lock()
        self._paces: dict[str, Pace] = {}
        self._paces_lock = threading.Lock()
        self._queue: queue.Queue[JobEvent] = queue.Queue()
        self._cancel = threading.Event()
        self._pending = len(self.targets)
        self._t0 = time.perf_counter()
        self._threads: list[threading.Thread] = []
        import_shared_sdks(list(self.local))

    def start(self) -> JobRun:
        """Start every lane's workers (a remote lane gets as many as its provider allows at once)."""
        for n, cells in enumerate(self.lanes):
            target = self.targets[cells[0]]
            workers = 1 if self.local[target] else min(remote_limit(target)[0], len(cells))
            work = deque(cells)
            for w in range(workers):
                # a copy of the caller's context: keys typed on the page live in a context variable,
                # and plain threads would start without them
                th = threading.Thread(target=contextvars.copy_context().run, args=(self._lane, work),
                                      name=f"{self._name}-{n}-{w}", daemon=True)
                self._threads.append(th)
                th.start()
        return self

    # worker side -----------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """True once Stop was asked for: cells not yet started should not start."""
        return self._cancel.is_set()

    def emit(self, cell: int, kind: str, text: str = "") -> None:
        """Report progress of a cell (start, token) to whoever iterates the events."""
        self._queue.put(JobEvent(cell, kind, text))

    @contextlib.contextmanager
    def slot(self, target: str) -> Iterator[None]:
        """Hold the run's local lock for a local target; wait for a remote target's provider pace."""
        if self.local.get(target, True):
            with contextlib.nullcontext() if self.concurrent_local else self._local_lock:
                yield
            return
        if self.paced:
            backend = Target.parse(target).backend
            with self._paces_lock:
                pace = self._paces.setdefault(backend, Pace(remote_limit(target)[1]))
            pace.wait(self._cancel)
        yield

    def read(self, answer: Answer) -> AnswerOutcome:
        """Read an answer to its end, or to its next token after Stop (then "cancelled", partial text kept)."""
        with answer:
            for _ in answer:
                if self._cancel.is_set():
                    break
        return answer.outcome

    def pause(self, seconds: float) -> None:
        """Wait (a rate limit's retry-after), ending early on Stop."""
        self._cancel.wait(seconds)

    def _lane(self, work: deque) -> None:
        while True:
            try:
                i = work.popleft()  # deque.popleft is atomic: several workers share one lane
            except IndexError:
                return
            try:
                error = self._work(i)
            except Exception as exc:  # noqa: BLE001 - a bug in one cell is that cell's error, not a hang
                error = f"Failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]})."
            self._queue.put(JobEvent(i, "error" if error else "done", error or ""))

    # consumer side ---------------------------------------------------------------------------
    def waits_for_turn(self, cell: int) -> bool:
        """True when the cell waits for local cells ahead of it in its lane."""
        return any(cell in lane and lane.index(cell) > 0 and self.local[self.targets[cell]] for lane in self.lanes)

    @property
    def finished(self) -> bool:
        """True once every cell has ended (or was cancelled)."""
        return self._pending == 0

    @property
    def done_count(self) -> int:
        """Cells whose end has been read from the events."""
        return len(self.targets) - self._pending

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self._t0

    def _take(self, timeout: float) -> JobEvent | None:
        try:
            event = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if event.kind in ("done", "error"):
            self._pending -= 1
            if not self._pending:
                self.wall_s = round(self.elapsed_s, 4)
        return event

    def events(self, poll_s: float = 0.1) -> Iterator[JobEvent | None]:
        """Every event in arrival order, and None every poll_s while waiting (a page redraws a timer),
        until every cell has ended (call from one thread only)."""
        while self._pending:
            yield self._take(poll_s)

    def batches(self, interval_s: float = 0.1) -> Iterator[list[JobEvent]]:
        """Events grouped per time window, possibly empty, until every cell has ended.

        A page redraws once per batch instead of once per token, and an empty batch still gives
        it a moment to update a timer (and lets Streamlit notice a Stop click).
        """
        while self._pending:
            deadline = time.perf_counter() + interval_s
            batch: list[JobEvent] = []
            while self._pending:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                event = self._take(left)
                if event is not None:
                    batch.append(event)
            yield batch

    def wait(self) -> None:
        """Block until every cell has ended."""
        for _ in self.events():
            pass

    def close(self, join_s: float = 10.0, *, settle: bool = True) -> None:
        """Stop: cells not started are skipped, running answers stop at their next token; ended ones stay.

        Workers get join_s to notice; with settle, close then waits for every cell to report its end
        (a record of the run is then complete), else it returns at once.
        """
        if not self.finished:
            self.stopped = True
        self._cancel.set()
        deadline = time.monotonic() + join_s
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        while settle and self._pending:
            if self._take(0.05) is None and not any(th.is_alive() for th in self._threads):
                break
        if self.wall_s is None:
            self.wall_s = round(self.elapsed_s, 4)
