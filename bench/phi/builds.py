"""Which variants to build and where they are cached: one folder per config, depth and seed."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.phi import configs, convert, hf

# bump when a build step changes what it writes, so stale caches are not reused
BUILD_VERSION = 1
# onnxruntime-genai's builder peaked at about 9 bytes per parameter (3.8 GB for a 423M-parameter model)
BUILDER_BYTES_PER_PARAM = 9.0


def cache_root() -> Path:
    """~/.cache/phi-playground/bench-phi, or $PHI_PLAYGROUND_BENCH_CACHE."""
    env = os.environ.get("PHI_PLAYGROUND_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "phi-playground" / "bench-phi"


@dataclass(frozen=True)
class Variant:
    """One model file set on one runtime: a Phi config at a depth, converted to a format."""

    model: str
    layers: int
    runtime: str  # llamacpp (llamacpp-nommap: the file read, not mapped) | onnx | transformers
    fmt: str  # Q4_0 ... | int4, int4-b128 | bf16

    @property
    def key(self) -> str:
        return f"{self.runtime}:{self.fmt}"

    @property
    def name(self) -> str:
        return f"{self.model} L{self.layers} {self.key}"


def folder(model: str, layers: int, seed: int) -> Path:
    return cache_root() / f"{model}-L{layers}-s{seed}-v{BUILD_VERSION}"


def params(model: str, layers: int) -> int:
    """Parameter count of the built checkpoint."""
    total = 0
    for shape in hf.tensor_shapes(configs.config(model, layers)).values():
        n = 1
        for s in shape:
            n *= s
        total += n
    return total


def available_gb() -> float:
    """MemAvailable: what a builder could take without pushing others into swap-less OOM."""
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def onnx_fits(model: str, layers: int) -> tuple[bool, float]:
    """Whether the ONNX builder's peak (about 9 bytes per parameter) fits in the memory available now."""
    need = params(model, layers) * BUILDER_BYTES_PER_PARAM / 1e9
    return need < available_gb() * 0.85, need


def hf_folder(model: str, layers: int, seed: int, progress) -> Path:
    out = folder(model, layers, seed) / "hf"
    if (out / ".done").exists():
        return out
    if out.exists():
        shutil.rmtree(out)
    progress(f"building {model} at {layers} layers ({params(model, layers) / 1e9:.2f}B parameters), seed {seed}")
    hf.write(out, model, layers, seed, hf.tokenizer_files(cache_root(), seed, progress), progress)
    (out / ".done").touch()
    return out


def path(v: Variant, seed: int, progress) -> Path:
    """The built files of one variant, building (and caching) whatever is missing."""
    base = folder(v.model, v.layers, seed)
    # the Hugging Face folder is built only when something is made from it: a cache may keep only the outputs
    if v.runtime == "transformers":
        return hf_folder(v.model, v.layers, seed, progress)
    if v.runtime.startswith("llamacpp"):
        out = base / f"{v.fmt}.gguf"
        if not out.exists():
            wide = base / "bf16.gguf"
            if not wide.exists():
                src = hf_folder(v.model, v.layers, seed, progress)
                convert.gguf_from_hf(src, wide, convert.llama_cpp_source(cache_root(), progress), progress)
            convert.quantize(wide, out, v.fmt, progress)
        return out
    out = base / f"onnx-{v.fmt}"
    if not (out / "genai_config.json").exists():
        fits, need = onnx_fits(v.model, v.layers)
        if not fits:
            raise MemoryError(f"the ONNX builder needs about {need:.0f} GB for {v.model} at {v.layers} layers, "
                              f"{available_gb():.0f} GB is available: build shallower and use the slope")
        convert.onnx_from_hf(hf_folder(v.model, v.layers, seed, progress), out, v.fmt, progress)
    return out
