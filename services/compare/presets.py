"""Compare presets: "one model, two runtimes" and "Phi-3 vs Phi-3.5", built from the available targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.compare.run import MAX_TARGETS
from services.models import catalog
from services.types import Target, TargetInfo


@dataclass(frozen=True)
class Preset:
    """A ready-made set of targets; unavailable presets say what would enable them."""

    name: str
    targets: tuple[str, ...]
    available: bool
    note: str = ""


EMBEDDED_PAIR = ("onnx:smollm2-135m-instruct", "transformers:smollm2-135m-instruct")
# preferred order when one model is offered by several runtimes: local first, then one cloud
RUNTIME_ORDER = ("onnx", "transformers", "llamacpp", "ollama", "github", "nim", "azure", "openai")
CLOUD_BACKENDS = ("github", "nim", "azure", "openai")


def _catalog_key(target: str) -> str | None:
    t = Target.parse(target)
    hit = catalog.find(t.backend, t.model) or catalog.guess(t.model)
    return hit.key if hit else None


def _by_runtime(available: list[str], key_prefix: str) -> list[str]:
    """One available target per runtime for a catalog model, local runtimes first, one cloud at most."""
    picked: dict[str, str] = {}
    for t in available:
        backend = Target.parse(t).backend
        key = _catalog_key(t)
        if key and key.startswith(key_prefix) and backend not in picked:
            picked[backend] = t
    ordered = [picked[b] for b in RUNTIME_ORDER if b in picked] + [t for b, t in picked.items() if b not in RUNTIME_ORDER]
    clouds = [t for t in ordered if Target.parse(t).backend in CLOUD_BACKENDS]
    return [t for t in ordered if t not in clouds[1:]][:MAX_TARGETS]


def presets(infos: Sequence[TargetInfo]) -> list[Preset]:
    """The presets for the current set of targets (as the picker lists them)."""
    available = [i.target for i in infos if i.available]
    out = []
    pair = [t for t in EMBEDDED_PAIR if t in available]
    out.append(Preset("One model, two runtimes: embedded SmolLM2 on ONNX vs transformers", EMBEDDED_PAIR,
                      len(pair) == 2, "" if len(pair) == 2 else "The embedded model is not installed."))
    trio = EMBEDDED_PAIR + ("llamacpp:smollm2-135m-instruct",)
    if all(t in available for t in trio):
        out.append(Preset("One model, three runtimes: embedded SmolLM2 on ONNX vs transformers vs llama.cpp",
                          trio, True))
    for key, label in (("phi-3.5-mini", "Phi-3.5-mini"), ("phi-3-mini", "Phi-3-mini")):
        runtimes = _by_runtime(available, key)
        if len(runtimes) >= 2:
            names = " vs ".join(Target.parse(t).backend for t in runtimes)
            out.append(Preset(f"One model, two runtimes: {label} on {names}", tuple(runtimes), True))
    phi3 = _by_runtime(available, "phi-3-mini")
    phi35 = _by_runtime(available, "phi-3.5-mini")
    # the same provider on both sides keeps the comparison about the model, not the network
    # the same provider on both sides keeps the comparison about the model, not the network;
    # GitHub or NIM first: full-size Phi models answer there in seconds, on 2 local cores in minutes
    backend = lambda t: Target.parse(t).backend  # noqa: E731
    rank = {b: n for n, b in reversed(list(enumerate(("github", "nim") + RUNTIME_ORDER)))}
    pairs = sorted(((a, b) for a in phi3 for b in phi35 if backend(a) == backend(b)),
                   key=lambda p: rank.get(backend(p[0]), 99))
    if pairs:
        out.append(Preset("Phi-3 vs Phi-3.5 (mini)", pairs[0], True))
    elif phi3 and phi35:
        out.append(Preset("Phi-3 vs Phi-3.5 (mini)", (phi3[0], phi35[0]), True))
    else:
        out.append(Preset("Phi-3 vs Phi-3.5 (mini)", ("github:microsoft/phi-3-mini-4k-instruct",
                                                      "github:microsoft/phi-3.5-mini-instruct"), False,
                          "Set a GitHub Models or NVIDIA NIM key (or install Phi-3-mini and Phi-3.5-mini locally)."))
    return out
