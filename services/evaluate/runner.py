"""The one evaluation engine: cases x targets x repeats, remote targets at once within their limits,
local ones in turn, evaluators on each answer, results streamed to the caller as they finish."""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from services.errors import (
    AuthFailed,
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    IncompleteGeneration,
    PlaygroundError,
    RateLimited,
)
from services.evaluate.checks import Verdict
from services.evaluate.evaluators import Context, case_status, evaluate
from services.evaluate.formats import refusals
from services.evaluate.promptfile import PromptFile
from services.evaluate.targets import judge_targets
from services.evaluate.templating import render
from services.types import GenerationParams, Message, Target

MAX_TARGETS = 4
MAX_REPEAT = 10
# answers one run may ask for (rows x targets x repeats)
MAX_TRIALS = 4000
DEFAULT_JUDGE = "onnx:smollm2-135m-instruct"
# per provider: requests at once, and requests a minute (None: no pacing). GitHub Models' free
# tier for Phi ("low" models) allows 15 a minute and 5 at once; NVIDIA's hosted NIM 40 a minute.
REMOTE_LIMITS = {"github": (4, 15), "nim": (4, 40)}
DEFAULT_REMOTE_LIMIT = (4, None)
# a 429 asking to wait up to this long is waited out (on top of the backend's own one retry)
MAX_RATE_WAIT_S = 60.0
RATE_RETRIES = 2
# consecutive unreachable/timeout errors after which a target's remaining cases are not sent
DOWN_AFTER = 3


def _local(target: str) -> bool:
    from services.compare.run import is_local

    return is_local(target)


@dataclass(frozen=True)
class EvalSpec:
    """What one evaluation runs: a prompt file on 1 to 4 targets, each case `repeat` times."""

    prompt: PromptFile
    targets: tuple[str, ...]
    params: GenerationParams
    repeat: int = 1
    judge: str | None = None
    source: str = ""

    @classmethod
    def build(cls, prompt: PromptFile, targets: Sequence[str], *, repeat: int = 1, judge: str | None = None,
              params: GenerationParams | None = None, source: str = "") -> EvalSpec:
        """Check targets, repeat, judge and the size of the run before anything is sent."""
        from services.chat import resolve_target

        names = [str(resolve_target(t)) for t in targets]
        if not 1 <= len(names) <= MAX_TARGETS:
            raise BadRequest(f"An evaluation runs on 1 to {MAX_TARGETS} targets; {len(names)} given.")
        if len(set(names)) != len(names):
            raise BadRequest("Each target can appear only once in an evaluation; use repeat to ask again.")
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            raise BadRequest(f"repeat must be a whole number from 1 to {MAX_REPEAT}, not {repeat!r}.")
        trials = len(prompt.rows()) * len(names) * repeat
        if trials > MAX_TRIALS:
            raise BadRequest(f"This run would ask for {trials:,} answers ({len(prompt.rows())} rows x {len(names)} "
                             f"targets x {repeat} repeats); at most {MAX_TRIALS:,}: use fewer rows or repeats.")
        if judge:
            judge = str(resolve_target(judge))
        return cls(prompt, tuple(names), params or prompt.params(), repeat, judge or None, source)

    def judges(self) -> dict[str, str]:
        """The judge target of each judge evaluator: --judge, else its modelId, else the embedded model."""
        return judge_targets(self.prompt.evaluators, self.judge, DEFAULT_JUDGE)


@dataclass
class Trial:
    """One answer: a case on a target (one of its repeats), its evaluations and measurements."""

    target: str
    case: int
    repeat: int
    status: str = "pending"  # pending, running, pass, fail, unscored, error, cancelled
    response: str = ""
    error: str | None = None
    error_type: str | None = None
    metrics: dict = field(default_factory=dict)
    finish_reason: str | None = None
    results: list[dict] = field(default_factory=list)

    @property
    def schema_valid(self) -> bool | None:
        """Whether the answer validated under the run's JSON format (None: text asked, or not checked)."""
        return self.metrics.get("schema_valid")

    @property
    def finished(self) -> bool:
        return self.status not in ("pending", "running")

    def to_dict(self, row: dict) -> dict:
        """`gh models eval --json`'s testResults item, plus target, repeat, status, metrics and error."""
        return {"testCase": row, "modelResponse": self.response, "evaluationResults": self.results,
                "target": self.target, "case": self.case, "repeat": self.repeat, "status": self.status,
                "metrics": self.metrics, "finishReason": self.finish_reason, "error": self.error,
                "errorType": self.error_type, "schemaValid": self.schema_valid,
                "schemaError": self.metrics.get("schema_error") or None}


class _Pace:
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


class EvalRun:
    """A running evaluation: iterate finished trials, read summaries, close() to stop early."""

    def __init__(self, spec: EvalSpec):
        self.spec = spec
        self.rows = spec.prompt.rows()
        self.trials = [Trial(t, c, r) for t in spec.targets for c in range(len(self.rows)) for r in range(spec.repeat)]
        self.local = {t: _local(t) for t in set(spec.targets) | set(spec.judges().values())}
        self.judges = spec.judges()
        # one local generation at a time, answers and local judges alike: 2 cores, fair timings
        self._local_lock = threading.Lock()
        self._paces: dict[str, _Pace] = {}
        self._down: dict[str, str] = {}
        self._fails: dict[str, int] = {}
        # targets that cannot constrain answers to the run's JSON format, each with its sentence
        self.refused: dict[str, str] = {}
        self._format_checked: set[str] = set()
        self._state = threading.Lock()
        self._queue: queue.Queue[int] = queue.Queue()
        self._cancel = threading.Event()
        self._pending = len(self.trials)
        self._messages: dict[int, tuple[tuple[Message, ...], str]] = {}
        self.started = time.time()
        self.wall_s: float | None = None
        self.stopped = False
        from services.compare.run import import_shared_sdks

        import_shared_sdks(list(self.local))
        self._threads = []
        local_work = [i for i, tr in enumerate(self.trials) if self.local[tr.target]]
        if local_work:
            self._spawn(deque(local_work), "eval-local")
        for t in spec.targets:
            if self.local[t]:
                continue
            work = deque(i for i, tr in enumerate(self.trials) if tr.target == t)
            workers = REMOTE_LIMITS.get(Target.parse(t).backend, DEFAULT_REMOTE_LIMIT)[0]
            for n in range(min(workers, len(work))):
                self._spawn(work, f"eval-{t}-{n}")

    def _spawn(self, work: deque, name: str) -> None:
        # a copy of the caller's context: keys typed on the page live in a context variable
        th = threading.Thread(target=contextvars.copy_context().run, args=(self._work, work), name=name, daemon=True)
        self._threads.append(th)
        th.start()

    # ---------- worker side ----------

    def _work(self, work: deque) -> None:
        while True:
            try:
                i = work.popleft()  # deque.popleft is atomic: several workers share one queue
            except IndexError:
                return
            try:
                self._run_trial(self.trials[i])
            except Exception as exc:  # noqa: BLE001 - a bug in one trial is that trial's error, not a hang
                tr = self.trials[i]
                tr.status, tr.error, tr.error_type = "error", f"Failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}).", type(exc).__name__
            self._queue.put(i)

    def _case_messages(self, case: int) -> tuple[tuple[Message, ...], str]:
        if case not in self._messages:
            row = self.rows[case]
            msgs = tuple(Message(m["role"], render(m["content"], row)) for m in self.spec.prompt.messages)
            self._messages[case] = (msgs, msgs[-1].content)
        return self._messages[case]

    def _params(self, repeat: int) -> GenerationParams:
        p = self.spec.params
        if repeat and p.seed is not None:
            # repeats with a fixed seed would repeat one sample; step the seed instead
            return GenerationParams.from_dict({**p.to_dict(), "seed": (p.seed + repeat) % 2**31})
        return p

    def _pace(self, target: str) -> None:
        backend = Target.parse(target).backend
        with self._state:
            pace = self._paces.setdefault(backend, _Pace(REMOTE_LIMITS.get(backend, DEFAULT_REMOTE_LIMIT)[1]))
        pace.wait(self._cancel)

    def _slot(self, target: str):
        """The local lock for a local target, else the provider's pacing (no lock)."""
        if self.local.get(target, True):
            return self._local_lock
        self._pace(target)
        return contextlib.nullcontext()

    def _generate(self, tr: Trial, messages) -> None:
        from services.chat import start_chat

        params = self._params(tr.repeat)

        def grow(piece: str) -> None:
            tr.response += piece

        for attempt in range(RATE_RETRIES + 1):
            answer = None
            try:
                with self._slot(tr.target):
                    answer = start_chat(tr.target, messages, params).on_text(grow)
                    with answer:
                        for _ in answer:
                            if self._cancel.is_set():
                                break  # stops at the next token; the partial text is kept
            finally:
                if answer is not None:  # closed by now, after a bug mid-stream too: keep what it measured
                    out = answer.outcome
                    tr.metrics, tr.finish_reason = out.metrics.to_dict(), out.finish_reason
                    tr.response = out.text or tr.response
            if out.cancelled:
                tr.status = "cancelled"
            exc = out.error
            if exc is None:
                return
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            if attempt < RATE_RETRIES and wait is not None and wait <= MAX_RATE_WAIT_S and not self._cancel.is_set():
                tr.response = ""
                self._cancel.wait(wait)
                continue
            raise exc

    def _ask_judge(self, target: str, messages: tuple[Message, ...]) -> str:
        from services.evaluate.pairwise import ask_target

        with self._slot(target):
            return ask_target(target, messages)

    def _note_failure(self, target: str, exc: PlaygroundError) -> None:
        with self._state:
            if isinstance(exc, (AuthFailed, RateLimited)):
                self._down.setdefault(target, exc.user_message())
            elif isinstance(exc, (BackendUnavailable, BackendTimeout)):
                self._fails[target] = self._fails.get(target, 0) + 1
                if self._fails[target] >= DOWN_AFTER:
                    self._down.setdefault(target, exc.user_message())

    def _refusal(self, target: str) -> str | None:
        """Asked once per target, in its own lane: a remote backend may read its model list for this."""
        if target not in self._format_checked:
            found = refusals([target], self.spec.params.response_format).get(target)
            with self._state:
                self._format_checked.add(target)
                if found:
                    self.refused[target] = found
        return self.refused.get(target)

    def _run_trial(self, tr: Trial) -> None:
        if self._cancel.is_set():
            tr.status = "cancelled"
            return
        refused = self._refusal(tr.target)
        if refused:
            tr.status, tr.error, tr.error_type = "error", refused, "FormatUnsupported"
            return
        down = self._down.get(tr.target)
        if down:
            tr.status, tr.error, tr.error_type = "error", f"Not sent: {tr.target} failed earlier in this run. {down}", "TargetDown"
            return
        tr.status = "running"
        messages, _ = self._case_messages(tr.case)
        try:
            self._generate(tr, messages)
        except IncompleteGeneration as exc:
            tr.response = exc.partial_text or tr.response
            tr.status, tr.error, tr.error_type = "error", exc.user_message(), type(exc).__name__
            return
        except PlaygroundError as exc:
            self._note_failure(tr.target, exc)
            tr.status, tr.error, tr.error_type = "error", exc.user_message(), type(exc).__name__
            return
        with self._state:
            self._fails[tr.target] = 0
        if tr.status == "cancelled":
            return  # a partial answer is kept but never graded
        tr.response = tr.response.strip()  # as GitHub's tool does before evaluating
        ctx = Context(schema=self.spec.prompt.schema, judges=self.judges, ask=self._ask_judge)
        verdicts = []
        for e in self.spec.prompt.evaluators:
            try:
                v = evaluate(e, self.rows[tr.case], tr.response, ctx)
            except BadRequest as exc:
                v = Verdict(None, False, exc.user_message())
            verdicts.append(v)
            # the reference's fields (score always a number: an unscored verdict is 0 and not passed),
            # and ours: status says whether the evaluator decided
            tr.results.append({"evaluatorName": e.name, "score": v.score if v.score is not None else 0.0,
                               "passed": v.passed, "details": v.details, "status": v.status})
        tr.status = case_status(verdicts)

    # ---------- consumer side ----------

    @property
    def finished(self) -> bool:
        """True once every trial has finished (or was cancelled)."""
        return self._pending == 0

    @property
    def done_count(self) -> int:
        return len(self.trials) - self._pending

    def _take(self, timeout: float) -> Trial | None:
        try:
            i = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self._pending -= 1
        if not self._pending:
            self.wall_s = round(time.time() - self.started, 3)
        return self.trials[i]

    def events(self, poll_s: float = 0.1) -> Iterator[Trial | None]:
        """Each trial as it finishes, and None every poll_s while waiting (a page redraws a timer)."""
        while self._pending:
            yield self._take(poll_s)

    def wait(self) -> list[Trial]:
        """Block until every trial has finished."""
        for _ in self.events():
            pass
        return self.trials

    def close(self, join_s: float = 10.0) -> None:
        """Stop: unsent trials are cancelled, running answers stop at their next token; finished ones stay."""
        if not self.finished:
            self.stopped = True
        self._cancel.set()
        deadline = time.monotonic() + join_s
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        while self._pending:
            if self._take(0.05) is None and not any(th.is_alive() for th in self._threads):
                break
        if self.wall_s is None:
            self.wall_s = round(time.time() - self.started, 3)


def start_eval(spec: EvalSpec) -> EvalRun:
    """Start every lane now; iterate the run's events for progress."""
    return EvalRun(spec)


def run_eval(spec: EvalSpec, on_trial=None) -> EvalRun:
    """Run to the end (CLI, tests); on_trial(done, total, trial) after each finished trial."""
    run = start_eval(spec)
    try:
        for tr in run.events():
            if tr is not None and on_trial:
                on_trial(run.done_count, len(run.trials), tr)
    finally:
        run.close()
    return run
