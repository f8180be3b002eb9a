"""Compare: one prompt on 2 to 4 targets, the columns of one job on the job runner."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from services.backends import get_backend
from services.chat import check_length, start_chat
from services.errors import BadRequest, PlaygroundError
from services.jobs import JobEvent, JobRun, is_local, lanes
from services.types import GenerationParams, ImagePart, Message, Target

MIN_TARGETS, MAX_TARGETS = 2, 4
# how long close() waits for the columns to notice Stop
JOIN_S = 5.0


@dataclass(frozen=True)
class CompareSpec:
    """What a comparison runs: the prompt, the targets, one params per target, shared media."""

    prompt: str
    targets: tuple[str, ...]
    params: tuple[GenerationParams, ...]
    system: str = ""
    images: tuple[ImagePart, ...] = ()
    # local targets share 2 CPU cores, so by default they run one after another for fair speeds
    concurrent_local: bool = False

    @classmethod
    def build(cls, prompt: str, targets: Sequence[str], params: GenerationParams | Sequence[GenerationParams] | None = None,
              *, system: str = "", images: Sequence[ImagePart] = (), concurrent_local: bool = False) -> CompareSpec:
        """Validate and normalise: 2-4 parseable targets, a prompt, shared or per-target params."""
        targets = tuple(str(Target.parse(t)) for t in targets)
        if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
            raise BadRequest(f"Compare takes {MIN_TARGETS} to {MAX_TARGETS} targets; {len(targets)} given.")
        if not isinstance(prompt, str) or not (prompt.strip() or images):
            raise BadRequest("Type a prompt first: the prompt is empty.")
        check_length(prompt, "The prompt")
        check_length(system or "", "The system prompt")
        if params is None or isinstance(params, GenerationParams):
            per = (params or GenerationParams(),) * len(targets)
        else:
            per = tuple(params)
            if len(per) != len(targets):
                raise BadRequest(f"Give one set of parameters per target: {len(targets)} targets, {len(per)} sets.")
        return cls(prompt, targets, per, system or "", tuple(images), bool(concurrent_local))

    def messages(self) -> tuple[Message, ...]:
        """The same conversation for every column."""
        system = (Message("system", self.system),) if self.system.strip() else ()
        return system + (Message("user", self.prompt, images=self.images),)

    @property
    def shared_params(self) -> bool:
        """True when every column uses the same parameters (the sync-settings case)."""
        return len(set(self.params)) == 1


@dataclass
class ColumnResult:
    """One column's outcome; written only by its worker thread, read after its done event."""

    index: int
    target: str
    params: GenerationParams
    status: str = "pending"  # pending, running, done, error
    text: str = ""
    metrics: dict = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    # "sequential": a local column that had the CPU to itself; "concurrent": ran beside other columns
    mode: str = "sequential"
    local: bool = True
    notices: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the column finished with an answer."""
        return self.status == "done" and self.error is None

    def to_json(self) -> dict:
        """The CLI shape: {target, text, metrics, schema_valid[, schema_error]} or {target, error}."""
        if self.error is not None:
            return {"target": self.target, "error": self.error}
        # under a JSON response format: whether the answer validated (null otherwise), and why not
        metrics = self.metrics or {}
        error = metrics.get("schema_error")
        return {"target": self.target, "text": self.text, "metrics": self.metrics,
                "schema_valid": metrics.get("schema_valid"), **({"schema_error": error} if error else {})}

    def to_dict(self) -> dict:
        """Everything, for run files and the page."""
        return {
            "target": self.target, "params": self.params.to_dict(), "status": self.status, "text": self.text,
            "metrics": self.metrics, "finish_reason": self.finish_reason, "error": self.error,
            "error_type": self.error_type, "mode": self.mode, "local": self.local, "notices": list(self.notices),
        }


def _accepts_images(target: str) -> bool:
    try:
        t = Target.parse(target)
        return bool(get_backend(t.backend).capabilities(t.model).images)
    except Exception:  # an unknown target fails in its own column with a clear message
        return True


def plan(spec: CompareSpec) -> list[list[int]]:
    """Groups of column indices; each group runs one after another (see services.jobs.lanes).

    Remote targets each get their own (they wait on the network). Local targets share one unless
    concurrent_local is set, so two CPU-bound runtimes never fight over the cores.
    """
    return lanes(spec.targets, [is_local(t) for t in spec.targets], concurrent_local=spec.concurrent_local)


class CompareRun:
    """A running comparison on the job runner: iterate its events, read results, close() to stop early."""

    def __init__(self, spec: CompareSpec):
        self.spec = spec
        self.results = [ColumnResult(i, t, p) for i, (t, p) in enumerate(zip(spec.targets, spec.params, strict=True))]
        self.job = JobRun(spec.targets, self._run_one, concurrent_local=spec.concurrent_local, name="compare")
        local = [self.job.local[t] for t in spec.targets]
        shared_cpu = spec.concurrent_local and sum(local) > 1
        for col, flag in zip(self.results, local, strict=True):
            # what the metrics card says: did this local column have the CPU to itself?
            col.mode = "concurrent" if (shared_cpu and flag) or not flag else "sequential"
            col.local = flag
        self.job.start()

    # worker side -----------------------------------------------------------------------------
    def _run_one(self, i: int) -> str | None:
        col = self.results[i]
        if self.job.cancelled:
            col.status, col.finish_reason = "done", "cancelled"
            return None
        col.status = "running"
        self.job.emit(i, "start")
        answer = None

        def token(piece: str) -> None:
            col.text += piece
            self.job.emit(i, "token", piece)

        try:
            messages, notices = self.messages_for(col.target)
            with self.job.slot(col.target):
                answer = start_chat(col.target, messages, col.params).on_text(token)
                col.notices = notices + tuple(answer.notices)
                # a cancelled run stops the column at its next token and keeps the partial text
                outcome = self.job.read(answer)
            if outcome.error is not None:
                self._fail(col, outcome.error_message, outcome.error)
        except PlaygroundError as exc:
            self._fail(col, exc.user_message(), exc)
        except Exception as exc:  # a bug in one backend becomes that column's error, not a crash
            self._fail(col, f"{col.target} failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}).", exc)
        if answer is not None:  # closed by now, also after a bug mid-stream: keep what it measured
            outcome = answer.outcome
            col.metrics = outcome.metrics.to_dict()
            col.finish_reason = outcome.finish_reason or "cancelled"
            col.text = outcome.text or col.text
        if col.error is None:
            col.status = "done"
        return col.error

    def messages_for(self, target: str) -> tuple[tuple[Message, ...], tuple[str, ...]]:
        """The shared messages; a text-only target gets them without the images, and says so."""
        messages = self.spec.messages()
        if not self.spec.images or _accepts_images(target):
            return messages, ()
        plain = tuple(Message(m.role, m.content) for m in messages)
        return plain, (f"{target} reads text only: it got the prompt without the "
                       f"{len(self.spec.images)} image(s).",)

    @staticmethod
    def _fail(col: ColumnResult, message: str, exc: BaseException) -> None:
        col.status, col.error, col.error_type = "error", message, type(exc).__name__

    # consumer side ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """True once every column has reported done or error."""
        return self.job.finished

    @property
    def wall_s(self) -> float | None:
        """Seconds the whole comparison took (None when it was stopped early)."""
        return None if self.job.stopped else self.job.wall_s

    def events(self) -> Iterator[JobEvent]:
        """Every event in arrival order until all columns finish (call from one thread only)."""
        return (event for event in self.job.events() if event is not None)

    def wait(self) -> list[ColumnResult]:
        """Block until every column has finished; return the results in target order."""
        self.job.wait()
        return self.results

    def close(self) -> None:
        """Stop every column at its next token (a rerun or a Stop click); keep partial text."""
        self.job.close(JOIN_S, settle=False)


def start_compare(spec: CompareSpec) -> CompareRun:
    """Start every column now; the returned run streams events from worker threads."""
    return CompareRun(spec)


def run_compare(spec: CompareSpec) -> CompareRun:
    """Run to the end and return the finished run (CLI, tests, benchmarks)."""
    run = start_compare(spec)
    try:
        run.wait()
    finally:
        run.close()
    return run


def speed_summary(results: Sequence[ColumnResult]) -> list[dict]:
    """Per answered column: tokens/s, TTFT, total, and how many times slower than the fastest."""
    rows = [{"target": r.target, "index": r.index, "tokens_per_s": r.metrics.get("decode_tokens_per_s"),
             "ttft_s": r.metrics.get("ttft_s"), "total_s": r.metrics.get("total_s"), "mode": r.mode}
            for r in results if r.ok]
    speeds = [r["tokens_per_s"] for r in rows if r["tokens_per_s"]]
    best = max(speeds) if speeds else None
    for r in rows:
        r["x_slower"] = round(best / r["tokens_per_s"], 2) if best and r["tokens_per_s"] else None
    return rows

