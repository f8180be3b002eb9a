"""How many threads a CPU runtime should use: the physical cores this process may run on, less those busy now."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

TOPOLOGY = Path("/sys/devices/system/cpu")
PROC_STAT = Path("/proc/stat")
PROC_TASKS = Path("/proc/self/task")


def physical_cores(cpus: set[int] | None = None, topology: Path = TOPOLOGY) -> int:
    """Distinct physical cores among the CPUs this process may use (SMT siblings count once)."""
    cpus = os.sched_getaffinity(0) if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        base = topology / f"cpu{cpu}" / "topology"
        try:
            cores.add((base.joinpath("physical_package_id").read_text().strip(),
                       base.joinpath("core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))  # no topology exposed (some containers): count the CPU itself
    return max(1, len(cores))


def _procs_running(stat: Path) -> int | None:
    try:
        for line in stat.read_text().splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _own_running(tasks: Path) -> int:
    """Threads of this process runnable now (the caller among them); 1 when /proc/self/task is unreadable."""
    running = 0
    try:
        for task in tasks.iterdir():
            try:
                text = (task / "stat").read_text()
            except OSError:
                continue  # the thread ended meanwhile
            # "tid (comm) S ...": comm may hold spaces or parentheses, the state follows the last ")"
            fields = text[text.rfind(")") + 1:].split()
            if fields and fields[0] == "R":
                running += 1
    except OSError:
        pass
    return max(1, running)


def busy_elsewhere(samples: int = 5, gap_s: float = 0.002, stat: Path = PROC_STAT,
                   online: int | None = None, mine: int | None = None, tasks: Path = PROC_TASKS) -> float:
    """Runnable threads of other processes, now, on this process's share of the CPUs.

    /proc/stat's procs_running counts every runnable thread on the machine at this instant; this
    process's own (the caller, and a runtime's workers still spinning after the last answer) are
    taken off. The median of a few samples a few ms apart ignores a passing blip. It costs about
    10 ms, cheap enough to check before every answer.
    """
    counts = []
    for i in range(samples):
        n = _procs_running(stat)
        if n is not None:
            counts.append(n - _own_running(tasks))
        if i + 1 < samples:
            time.sleep(gap_s)
    if not counts:
        return 0.0
    others = max(0.0, statistics.median(counts))
    online = online or os.cpu_count() or 1
    mine = mine or len(os.sched_getaffinity(0))
    # threads elsewhere spread over all online CPUs; only those on ours compete with us
    return others * min(1.0, mine / online)


def choose_threads(physical: int, busy: float) -> int:
    """One thread per physical core that is free: llama.cpp's threads wait for each other at every
    step, so a thread on a core another process holds slows all of them (2 threads on a busy 2-core
    machine decode slower than 1)."""
    return max(1, min(physical, physical - int(busy + 0.5)))


def threads_for_now(env_var: str | None = None) -> int:
    """The thread count to use for work starting now; `env_var`, when set to a number, wins."""
    if env_var:
        raw = os.environ.get(env_var, "").strip()
        if raw:
            try:
                return max(1, int(raw))
            except ValueError:
                pass
    return choose_threads(physical_cores(), busy_elsewhere())
