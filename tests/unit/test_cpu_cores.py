"""Thread choice for llama.cpp: physical cores from a fake topology, busy cores from a fake /proc/stat."""

import pytest

from services import cpu_cores


def _topology(root, cores: dict[int, tuple[int, int]]):
    for cpu, (pkg, core) in cores.items():
        d = root / f"cpu{cpu}" / "topology"
        d.mkdir(parents=True)
        (d / "physical_package_id").write_text(f"{pkg}\n")
        (d / "core_id").write_text(f"{core}\n")
    return root


def _stat(path, running: int):
    path.write_text(f"cpu  1 2 3 4\nintr 5\nctxt 6\nprocs_running {running}\nprocs_blocked 0\n")
    return path


def test_smt_siblings_count_once(tmp_path):
    # 4 logical CPUs on 2 cores (hyper-threading), process allowed on all of them
    topo = _topology(tmp_path, {0: (0, 0), 1: (0, 1), 2: (0, 0), 3: (0, 1)})
    assert cpu_cores.physical_cores({0, 1, 2, 3}, topo) == 2
    # an affinity mask of two siblings is one core
    assert cpu_cores.physical_cores({0, 2}, topo) == 1
    # two sockets with the same core ids are distinct cores
    topo2 = _topology(tmp_path / "b", {0: (0, 0), 1: (1, 0)})
    assert cpu_cores.physical_cores({0, 1}, topo2) == 2


def test_missing_topology_counts_each_cpu(tmp_path):
    assert cpu_cores.physical_cores({0, 1, 5}, tmp_path / "none") == 3


@pytest.mark.parametrize("physical,busy,want", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 5.0, 1),
    (8, 0.0, 8), (8, 3.0, 5), (1, 0.0, 1),
])
def test_choose_threads(physical, busy, want):
    assert cpu_cores.choose_threads(physical, busy) == want


def test_busy_elsewhere_reads_runnable_threads(tmp_path):
    # the caller itself is one of the runnable threads
    none = tmp_path / "no-tasks"  # unreadable: the caller alone is this process's
    assert cpu_cores.busy_elsewhere(3, 0, _stat(tmp_path / "s1", 1), online=2, mine=2, tasks=none) == 0.0
    assert cpu_cores.busy_elsewhere(3, 0, _stat(tmp_path / "s2", 2), online=2, mine=2, tasks=none) == 1.0
    # other threads spread over 8 CPUs, this process may use 2 of them
    assert cpu_cores.busy_elsewhere(3, 0, _stat(tmp_path / "s3", 5), online=8, mine=2, tasks=none) == 1.0
    assert cpu_cores.busy_elsewhere(3, 0, tmp_path / "missing", online=2, mine=2, tasks=none) == 0.0


def test_own_threads_are_not_counted_as_busy(tmp_path):
    # three threads of this process runnable (the caller and two spinning workers), one sleeping
    tasks = tmp_path / "task"
    for tid, state in ((1, "R"), (2, "R"), (3, "S"), (4, "R")):
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (py (worker) 1) {state} 1 2 3\n")
    stat = _stat(tmp_path / "s", 4)
    assert cpu_cores.busy_elsewhere(3, 0, stat, online=2, mine=2, tasks=tasks) == 1.0
    assert cpu_cores.busy_elsewhere(3, 0, _stat(tmp_path / "s2", 3), online=2, mine=2, tasks=tasks) == 0.0


def test_env_setting_wins(monkeypatch):
    monkeypatch.setenv("X_THREADS", "3")
    assert cpu_cores.threads_for_now("X_THREADS") == 3
    monkeypatch.setenv("X_THREADS", "lots")
    assert 1 <= cpu_cores.threads_for_now("X_THREADS") <= cpu_cores.physical_cores()
