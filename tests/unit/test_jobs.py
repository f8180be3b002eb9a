"""The job runner: lanes, the local lock, remote concurrency, context in threads, Stop and progress events.

The cells here are plain functions (no model): the runner only schedules, so a cell can be anything.
"""

from __future__ import annotations

import contextvars
import threading

import pytest

from services.jobs import JobRun, Pace, lanes

LOCAL_A, LOCAL_B = "onnx:model-a", "llamacpp:model-b"  # local runtimes (nothing is loaded: the cells do no work)
REMOTE_A, REMOTE_B = "openai:m-a", "github:m-b"
TYPED = contextvars.ContextVar("typed", default=None)


def test_local_cells_share_one_lane_and_each_remote_target_has_its_own():
    targets = [LOCAL_A, REMOTE_A, LOCAL_B, REMOTE_A, REMOTE_B]
    local = [True, False, True, False, False]
    assert lanes(targets, local) == [[0, 2], [1, 3], [4]]
    assert lanes(targets, local, concurrent_local=True) == [[0], [2], [1, 3], [4]]
    assert lanes([REMOTE_A], [False]) == [[0]]


class Recorder:
    """A cell body that records which cells ran at the same time, and waits for a gate when asked."""

    def __init__(self, job_targets, gate: threading.Event | None = None):
        self.lock = threading.Lock()
        self.running: set[int] = set()
        self.overlaps: list[set[int]] = []
        self.seen_context: dict[int, object] = {}
        self.gate = gate
        self.job: JobRun | None = None
        self.targets = job_targets

    def __call__(self, i: int) -> str | None:
        with self.job.slot(self.targets[i]):
            with self.lock:
                self.running.add(i)
                self.overlaps.append(set(self.running))
            self.seen_context[i] = TYPED.get()
            self.job.emit(i, "start")
            if self.gate is not None:
                self.gate.wait(10)
            self.job.emit(i, "token", f"piece {i}")
            with self.lock:
                self.running.discard(i)
        return "no luck" if self.targets[i] == REMOTE_B else None


def start(targets, **kw) -> tuple[JobRun, Recorder]:
    body = Recorder(targets, kw.pop("gate", None))
    body.job = JobRun(targets, body, **kw)
    return body.job.start(), body


def test_local_cells_never_overlap_and_remote_ones_run_beside_them():
    gate = threading.Event()
    targets = [LOCAL_A, LOCAL_B, REMOTE_A, REMOTE_A]
    job, body = start(targets, gate=gate)
    started = set()
    for event in job.events():
        if event is not None and event.kind == "start":
            started.add(event.index)
        if {2, 3} <= started and (0 in started or 1 in started):
            break  # both remote cells and one local cell are running at once
    gate.set()
    job.wait()
    assert not any({0, 1} <= seen for seen in body.overlaps)  # one local generation at a time
    assert any({2, 3} <= seen for seen in body.overlaps)  # one remote target's cells at once
    assert job.finished and job.wall_s is not None and not job.stopped


def test_events_report_progress_and_each_cells_end():
    targets = [REMOTE_A, REMOTE_B]
    job, _ = start(targets)
    events = [e for e in job.events() if e is not None]
    assert [(e.kind, e.text) for e in events if e.index == 0] == [("start", ""), ("token", "piece 0"), ("done", "")]
    assert [e.kind for e in events if e.index == 1][-1] == "error"
    assert next(e.text for e in events if e.index == 1 and e.kind == "error") == "no luck"
    assert job.done_count == 2


def test_workers_run_in_a_copy_of_the_callers_context():
    token = TYPED.set("a key typed on the page")
    try:
        job, body = start([REMOTE_A, LOCAL_A])
    finally:
        TYPED.reset(token)
    job.wait()
    assert body.seen_context == {0: "a key typed on the page", 1: "a key typed on the page"}


def test_a_bug_in_a_cell_becomes_its_error():
    def work(i: int) -> str | None:
        if i == 1:
            raise KeyError("oops")
        return None

    job = JobRun([REMOTE_A, REMOTE_A], work).start()
    ends = {e.index: e for e in job.events() if e is not None}
    assert ends[0].kind == "done"
    assert ends[1].kind == "error" and "KeyError" in ends[1].text


def test_stop_keeps_what_finished_and_skips_what_had_not_started():
    ran: list[int] = []
    second_running = threading.Event()

    def work(i: int) -> str | None:
        if job.cancelled:
            return "skipped"
        ran.append(i)
        if i == 1:
            second_running.set()
            job.pause(60)  # the second local cell is running when Stop comes; Stop ends the wait
        return None

    job = JobRun([LOCAL_A, LOCAL_A, LOCAL_A], work)
    job.start()
    ends = []
    for event in job.events():
        if event is not None:
            ends.append(event)
        if len(ends) == 1:
            break
    assert job.waits_for_turn(2) and not job.waits_for_turn(0)
    assert second_running.wait(30)
    job.close(join_s=30)
    assert job.stopped and job.finished and job.wall_s is not None
    assert ran == [0, 1]  # the third never started


def test_read_stops_an_answer_at_the_next_piece_after_stop():
    from tests.unit.test_answer import answer_of
    from services.types import Done, Token

    job = JobRun([REMOTE_A], lambda i: None)
    answer, backend = answer_of([Token("a"), Token("b"), Token("c"), Done("stop")])
    answer.on_text(lambda piece: job.close(join_s=0) if piece == "b" else None)
    out = job.read(answer)
    assert out.cancelled and out.text == "ab" and backend.sent == 2


def test_remote_cells_are_paced_only_when_asked():
    job = JobRun([REMOTE_B], lambda i: None, paced=True)
    with job.slot(REMOTE_B):
        pass  # the first slot of a pace is now
    job.close(join_s=0)  # Stop: a later slot is not waited for
    with job.slot(REMOTE_B):
        pass
    assert JobRun([REMOTE_B], lambda i: None).paced is False


def test_pacing_books_one_slot_per_gap_for_every_caller():
    pace = Pace(600)  # 600 a minute: one start every 0.1 s
    # four workers ask at the same instant: each gets the next slot of one schedule
    assert [round(pace.reserve(10.0), 6) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    # a caller that comes after the booked slots starts at once and books from there
    assert pace.reserve(11.0) == 0.0 and round(pace.reserve(11.0), 6) == 0.1
    assert Pace(None).gap == 0.0  # no limit: no waiting at all


def test_pacing_wait_returns_at_once_when_cancelled():
    pace, cancel = Pace(1), threading.Event()  # one a minute
    pace.wait(cancel)  # the first slot is now
    cancel.set()
    pace.wait(cancel)  # the next slot is a minute away; a cancelled run does not wait for it


@pytest.mark.parametrize("concurrent", [False, True])
def test_concurrent_local_lifts_the_lock(concurrent):
    job = JobRun([LOCAL_A, LOCAL_B], lambda i: None, concurrent_local=concurrent)
    with job.slot(LOCAL_A):
        got = threading.Event()

        def other():
            with job.slot(LOCAL_B):
                got.set()

        th = threading.Thread(target=other)
        th.start()
        assert got.wait(30 if concurrent else 0.2) is concurrent  # held: not acquired while the lock is
    th.join(5)
    assert got.is_set()
