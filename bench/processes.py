"""Sections that need a fresh process: cold and warm start, resident memory per target and per session count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# run in a child: time from process start to the first token of the default target
FIRST_TOKEN = r"""
import json, sys, time
t0 = float(sys.argv[1])
from services.chat import start_chat
from services.types import GenerationParams, Message
from services.models import embedded
from services.models import embedded_background
fresh = len(sys.argv) > 3 and sys.argv[3] == "fresh"
t_prov = time.time()
if not fresh:
    embedded.provision()  # warm: nothing to build; the old blocking flow when the cache is empty
provisioned = time.time() - t_prov
s = start_chat(sys.argv[2], [Message("user", "Hi")], GenerationParams(temperature=0, max_tokens=4))
chunks = iter(s)
next(chunks)
first = time.time() - t0
import resource
ru = resource.getrusage(resource.RUSAGE_SELF)
out = {"first_token_s": first, "provision_s": provisioned, "cpu_s": ru.ru_utime + ru.ru_stime}
s.close()
if fresh:
    # a fresh install answers through llama.cpp while the ONNX copy builds; wait for the switch
    out["answered_by"] = s.outcome.metrics.server.get("answered_by")
    out["default_ready_s"] = (time.time() - t0) if embedded_background.wait(1800) else None
print(json.dumps(out))
"""

# run in a child: resident memory after load, after one answer, after ten concurrent sessions
MEMORY = r"""
import json, sys, threading
from services.chat import start_chat
from services.backends import get_backend
from services.types import GenerationParams, Message, Target

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

target, n = sys.argv[1], int(sys.argv[2])
t = Target.parse(target)
get_backend(t.backend).prepare(t.model)
load = rss()
params = GenerationParams(temperature=0, max_tokens=n)
start_chat(target, [Message("user", "Name a colour.")], params).text()
one = rss()
errors = []
def session(i):
    try:
        start_chat(target, [Message("user", f"Session {i}: name a fruit.")], params).text()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=session, args=(i,)) for i in range(10)]
[th.start() for th in threads]
[th.join() for th in threads]
print(json.dumps({"load_mb": load, "one_mb": one, "ten_mb": max(rss(), hwm()), "errors": errors[:2]}))
"""


def _child(code: str, args: list[str], env: dict | None = None, timeout: int = 900) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_case(spec: dict, timeout: int = 900) -> dict:
    """One benchmark case (bench/child.py) in a fresh process; the load average it started under is kept."""
    load = round(os.getloadavg()[0], 2)
    proc = subprocess.run([sys.executable, "-m", "bench.child", json.dumps(spec)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:300], "load": load}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load"] = load
    return res


def warm_start(target: str, runs: int) -> list[dict]:
    """Fresh process, caches already built: seconds from launch to the first token."""
    out = []
    for _ in range(runs):
        out.append(_child(FIRST_TOKEN, [repr(time.time()), target]))
    return out


def cold_start(target: str) -> dict:
    """Fresh process and an empty cache folder, as on a fresh install: seconds to the first token
    (llama.cpp answers while the ONNX copy builds in the background) and until the default is ready."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        return _child(FIRST_TOKEN, [repr(time.time()), target, "fresh"], env={"PHI_PLAYGROUND_CACHE": tmp},
                      timeout=1800)


def memory(target: str, n: int) -> dict:
    """Resident memory of a process holding one local target, with 1 and then 10 concurrent sessions."""
    res = _child(MEMORY, [target, str(n)])
    res["target"] = target
    if "error" not in res:
        res["ratio"] = res["ten_mb"] / res["one_mb"]
    return res
