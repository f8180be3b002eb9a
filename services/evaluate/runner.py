"""The one evaluation engine: cases x targets x repeats on the job runner (remote targets at once within
their limits, local ones in turn), evaluators on each answer, results streamed to the caller as they finish."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from services.chat import resolve_target, start_chat
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
from services.evaluate.pairwise import ask_target
from services.evaluate.promptfile import PromptFile
from services.chat import DEFAULT_TARGET
from services.evaluate.targets import judge_targets
from services.evaluate.templating import render
from services.jobs import JobRun
from services.types import GenerationParams, Message

MAX_TARGETS = 4
MAX_REPEAT = 10
# answers one run may ask for (rows x targets x repeats)
MAX_TRIALS = 4000
# the embedded model on the default runtime: the first target offered and the judge when a file names none
DEFAULT_JUDGE = DEFAULT_TARGET
# a 429 asking to wait up to this long is waited out (on top of the backend's own one retry)
MAX_RATE_WAIT_S = 60.0
RATE_RETRIES = 2
# consecutive unreachable/timeout errors after which a target's remaining cases are not sent
DOWN_AFTER = 3


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


class EvalRun:
    """A running evaluation on the job runner: iterate finished trials, read summaries, close() to stop early."""

    def __init__(self, spec: EvalSpec):
        self.spec = spec
        self.rows = spec.prompt.rows()
        self.trials = [Trial(t, c, r) for t in spec.targets for c in range(len(self.rows)) for r in range(spec.repeat)]
        self.judges = spec.judges()
        self._down: dict[str, str] = {}
        self._fails: dict[str, int] = {}
        # targets that cannot constrain answers to the run's JSON format, each with its sentence
        self.refused: dict[str, str] = {}
        self._format_checked: set[str] = set()
        self._state = threading.Lock()
        self._messages: dict[int, tuple[tuple[Message, ...], str]] = {}
        # one local generation at a time, answers and local judges alike (2 cores, fair timings);
        # remote requests within each provider's limits at once and its pace a minute
        self.job = JobRun([tr.target for tr in self.trials], self._work, uses=list(self.judges.values()),
                          paced=True, name="eval")
        self.job.start()

    # ---------- worker side ----------

    def _work(self, i: int) -> str | None:
        tr = self.trials[i]
        try:
            self._run_trial(tr)
        except Exception as exc:  # noqa: BLE001 - a bug in one trial is that trial's error, not a hang
            tr.status, tr.error, tr.error_type = "error", f"Failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}).", type(exc).__name__
        return tr.error

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

    def _generate(self, tr: Trial, messages) -> None:
        params = self._params(tr.repeat)

        def grow(piece: str) -> None:
            tr.response += piece

        for attempt in range(RATE_RETRIES + 1):
            answer = None
            try:
                with self.job.slot(tr.target):
                    answer = start_chat(tr.target, messages, params).on_text(grow)
                    out = self.job.read(answer)  # Stop ends it at the next token; the partial text is kept
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
            if attempt < RATE_RETRIES and wait is not None and wait <= MAX_RATE_WAIT_S and not self.job.cancelled:
                tr.response = ""
                self.job.pause(wait)
                continue
            raise exc

    def _ask_judge(self, target: str, messages: tuple[Message, ...]) -> str:
        with self.job.slot(target):
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
        if self.job.cancelled:
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
        return self.job.finished

    @property
    def done_count(self) -> int:
        return self.job.done_count

    @property
    def started(self) -> float:
        """When the run started (seconds since the epoch)."""
        return self.job.started

    @property
    def wall_s(self) -> float | None:
        return self.job.wall_s

    @property
    def local(self) -> dict[str, bool]:
        """Whether each target (answers and judges) runs on this machine."""
        return self.job.local

    @property
    def stopped(self) -> bool:
        """True when Stop came before every trial had finished."""
        return self.job.stopped

    def events(self, poll_s: float = 0.1) -> Iterator[Trial | None]:
        """Each trial as it finishes, and None every poll_s while waiting (a page redraws a timer)."""
        for event in self.job.events(poll_s):
            if event is None or event.kind in ("done", "error"):
                yield None if event is None else self.trials[event.index]

    def wait(self) -> list[Trial]:
        """Block until every trial has finished."""
        self.job.wait()
        return self.trials

    def close(self, join_s: float = 10.0) -> None:
        """Stop: unsent trials are cancelled, running answers stop at their next token; finished ones stay."""
        self.job.close(join_s)


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
