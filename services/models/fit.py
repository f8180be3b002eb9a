"""Whether each Phi variant fits this machine's memory and budget, and the decode speed to expect here.

Memory = weights as the runtime holds them + the KV cache at FIT_CONTEXT tokens. Weight bytes read
per token (the decode bound's denominator): for a model on disk, read from its own tensors by
services/models/weight_bytes.py (the same figure the bench's predictions are checked with); else the
weights less the embedding table, which a token reads one row of, at parameters x the format's bits
per weight. MoE models count only the active experts. The speed itself comes from services/models/measured.py.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import gguf
import psutil

from services.backends.memory import budget_bytes, folder_bytes
from services.errors import BadRequest
from services.backends.transformers.moe_sizes import FIT_SHARE
from services.models import measured as measured_mod
from services.models import weight_bytes
from services.models.local import BACKEND_OF_KIND, LocalModel, Variant, human, machine_memory

# the context the KV cache is counted at: llama.cpp allocates its whole n_ctx (4,096 by default,
# LLAMACPP_N_CTX) when it loads, and the other runtimes grow to it in a long chat
FIT_CONTEXT = 4096

# bits per weight of each format, scales included: Q4_0 = 16 bytes of nibbles + an fp16 scale per 32;
# Q4_1 adds an fp16 minimum; Q8_0 = 32 bytes + fp16 scale per 32; Q4_K_M is llama.cpp's mix of Q4_K
# and Q6_K tensors (its quantize listing: 4.8-4.9 bits per weight). ONNX int4/int8: see _onnx_bits.
FORMAT_BITS = {"Q4_0": 4.5, "Q4_1": 5.0, "Q4_K_M": 4.85, "Q5_K_M": 5.7, "Q6_K": 6.5625, "Q8_0": 8.5,
               "fp16": 16.0, "bf16": 16.0, "fp32": 32.0}
# KV cache bytes per element: llama.cpp keeps f16; ONNX Runtime GenAI's CPU builds run in fp32
KV_BYTES = {"llamacpp": 2, "onnx": 4}


@dataclass(frozen=True)
class Shape:
    """What the arithmetic needs of a model (published config.json values)."""

    params_b: float
    hidden: int
    layers: int
    kv_heads: int | None
    head_dim: int | None
    vocab: int = 32064
    active_params_b: float | None = None

    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    def kv_bytes(self, context: int, per_element: int) -> int | None:
        """K and V for every layer at this many tokens, or None when the shape does not say."""
        if not (self.kv_heads and self.head_dim):
            return None
        return 2 * self.layers * self.kv_heads * self.head_dim * context * per_element


# from each model's config.json on the hub (Phi-3-mini-4k-instruct, Phi-3.5-mini-instruct,
# Phi-3-medium-4k-instruct, Phi-3.5-vision-instruct's language model, Phi-3.5-MoE-instruct); the
# small MoE models' attention shape is not recorded here, so their KV cache is left out and said so
SHAPES = {
    "phi-3-mini": Shape(3.82, 3072, 32, 32, 96),
    "phi-3.5-mini": Shape(3.82, 3072, 32, 32, 96),
    "phi-3-medium": Shape(14.0, 5120, 40, 10, 128),
    "phi-3.5-vision": Shape(4.15, 3072, 32, 32, 96),
    "phi-3.5-moe": Shape(41.9, 4096, 32, 8, 128, active_params_b=6.6),
    "phi-tiny-moe": Shape(3.8, 4096, 32, None, None, active_params_b=1.1),
    "phi-mini-moe": Shape(7.6, 4096, 32, None, None, active_params_b=2.4),
}


@dataclass(frozen=True)
class Fit:
    """One variant or installed model here: memory needed, the verdict, and the expected speed."""

    verdict: str  # "fits", "alone" (over the budget: other models are unloaded first), "not now", "too big", "?"
    text: str
    need_bytes: int | None
    weights_bytes: int | None
    kv_bytes: int | None
    context: int
    prediction: measured_mod.Prediction
    format: str = ""

    def to_dict(self) -> dict:
        p = self.prediction
        return {"verdict": self.verdict, "text": self.text, "need_bytes": self.need_bytes,
                "weights_bytes": self.weights_bytes, "kv_bytes": self.kv_bytes, "context": self.context,
                "format": self.format, "decode_tokens_per_s": p.tokens_per_s, "speed": p.describe(),
                "speed_note": p.note, "efficiency_key": p.key, "bytes_per_token": p.bytes_per_token}


def shape_for(name: str) -> Shape | None:
    """The recorded shape of a Phi model from its id or file name (longest match first)."""
    low = name.lower().replace("_", "-")
    for key in sorted(SHAPES, key=len, reverse=True):
        if key in low:
            return SHAPES[key]
    return None


def shape_of_folder(folder: Path) -> Shape | None:
    """A transformers folder's own config.json, read as data (nothing in it runs)."""
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        hidden, layers = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
        heads = int(cfg.get("num_attention_heads") or 0)
        kv = int(cfg.get("num_key_value_heads") or heads or 0) or None
        head_dim = int(cfg.get("head_dim") or (hidden // heads if heads else 0)) or None
        return Shape(0.0, hidden, layers, kv, head_dim, int(cfg.get("vocab_size") or 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def shape_of_onnx(folder: Path) -> Shape | None:
    """An ONNX Runtime GenAI folder's shape from its genai_config.json (data only)."""
    try:
        cfg = json.loads((Path(folder) / "genai_config.json").read_text(encoding="utf-8"))["model"]
        dec = cfg["decoder"]
        return Shape(0.0, int(dec["hidden_size"]), int(dec["num_hidden_layers"]),
                     int(dec.get("num_key_value_heads") or dec["num_attention_heads"]), int(dec["head_size"]),
                     int(cfg.get("vocab_size") or 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _gguf_shape(reader) -> Shape | None:
    """The shape a GGUF header records (read as data; no tensor is loaded)."""
    def field(key: str):
        f = reader.get_field(key)
        return None if f is None else f.contents()

    try:
        arch = field("general.architecture")
        hidden, layers = int(field(f"{arch}.embedding_length")), int(field(f"{arch}.block_count"))
        heads = int(field(f"{arch}.attention.head_count") or 0)
        kv = field(f"{arch}.attention.head_count_kv")
        tokens = field("tokenizer.ggml.tokens") or []
        head_dim = field(f"{arch}.attention.key_length") or (hidden // heads if heads else 0)
        return Shape(0.0, hidden, layers, int(kv or heads) or None, int(head_dim) or None, len(tokens))
    except Exception:  # any malformed header: fall back to the name's shape, never fail the listing
        return None


def _gguf_format(reader) -> str:
    """The format general.file_type records (Q4_K_M, Q4_0, fp16, ...), or ''."""
    try:
        field = reader.get_field("general.file_type")
        name = gguf.LlamaFileType(int(field.contents())).name if field is not None else ""
    except Exception:  # an unknown type: the file name is the fallback
        return ""
    name = name.removeprefix("MOSTLY_").removeprefix("ALL_")
    return {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "GUESSED": ""}.get(name, name)


@functools.lru_cache(maxsize=64)
def _gguf_header(path: str, mtime_ns: int, size: int) -> tuple[Shape | None, str]:
    try:
        reader = gguf.GGUFReader(path)
    except Exception:  # not a GGUF, or a malformed one
        return None, ""
    return _gguf_shape(reader), _gguf_format(reader)


def gguf_header(path: Path) -> tuple[Shape | None, str]:
    """A GGUF's shape and format from one read of its header, read again only when the file changes."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        return None, ""
    return _gguf_header(str(p), st.st_mtime_ns, st.st_size)


def _onnx_bits(fmt: str, where: str) -> float | None:
    """int4/int8 in blocks (of 32 unless the folder says block-N): an fp32 scale and a packed zero point each."""
    width = {"int4": 4, "int8": 8}.get(fmt)
    if width is None:
        return FORMAT_BITS.get(fmt)
    m = re.search(r"block-?(\d+)", where)
    block = int(m.group(1)) if m else 32
    return width + (32 + width) / block


def bits_per_weight(backend: str, fmt: str, where: str = "") -> float | None:
    """Bits per weight of a format on a runtime (None when the format is unknown)."""
    return _onnx_bits(fmt, where) if backend == "onnx" else FORMAT_BITS.get(fmt)


def transformers_format(stored: str, on_disk: int | None, memory: int | None) -> str:
    """The dtype the transformers backend runs: PHI_TRANSFORMERS_DTYPE, else fp32 unless only 16-bit fits."""
    env = os.environ.get("PHI_TRANSFORMERS_DTYPE", "").strip().lower()
    if env:
        return "bf16" if env == "bfloat16" else "fp32"
    if stored in ("bf16", "fp16") and on_disk and memory:
        # the backend's own rule (moe_sizes.dtype_that_fits): bf16 when the fp32 copy would not fit
        if 2 * on_disk > FIT_SHARE * memory >= on_disk:
            return "bf16"
    return "fp32"


def format_of_gguf(path: Path) -> str:
    """A GGUF's format from its header's general.file_type (Q4_K_M, Q4_0, fp16, ...), or ''."""
    return gguf_header(path)[1]


def format_of_file(name: str) -> str:
    """A GGUF's format from its file name (Q4_K_M, Q4_0, f16, ...), or ''."""
    m = re.search(r"(?i)(q\d_k_[sml]|q\d_k|q\d_\d|bf16|f16|fp16|f32)", name)
    if not m:
        return ""
    token = m.group(1)
    return {"f16": "fp16", "fp16": "fp16", "bf16": "bf16", "f32": "fp32"}.get(token.lower(), token.upper())


def _memory_verdict(need: int | None, available: int | None, budget: int | None, total: int | None,
                    kv_known: bool, context: int) -> tuple[str, str]:
    if need is None:
        return "?", "size unknown"
    kv = f"weights + KV cache at {context:,} tokens" if kv_known else "weights (KV cache not counted: shape unknown)"
    head = f"needs {human(need)} ({kv})"
    if total and need > total:
        return "too big", f"{head}: more than this machine's {human(total)}"
    if available is not None and need > available:
        return "not now", f"{head}: {human(available)} free now"
    if budget is not None and need > budget:
        return "alone", (f"{head}: over the {human(budget)} model budget, so other idle models are "
                         "unloaded first (PHI_PLAYGROUND_MODEL_MEMORY_GB)")
    return "fits", f"{head}: fits ({human(available)} free, {human(budget)} budget)"


def estimate(backend: str, fmt: str, shape: Shape | None, *, on_disk: int | None = None,
             stored_bits: float | None = None, read_per_token: float | None = None, where: str = "",
             context: int = FIT_CONTEXT,
             measured: measured_mod.Measured | None = None, bandwidth: measured_mod.Bandwidth | None = None,
             available: int | None = None, budget: int | None = None, total: int | None = None) -> Fit:
    """The arithmetic for one model: memory, verdict and expected decode tokens/s (inputs passed in)."""
    bits = bits_per_weight(backend, fmt, where) if fmt else None
    # weights in memory: the files as the runtime holds them (transformers converts 16-bit to fp32)
    if on_disk:
        weights = int(on_disk * (bits / stored_bits if bits and stored_bits else 1))
    elif shape and bits:
        weights = int(shape.params_b * 1e9 * bits / 8)
    else:
        weights = None
    kv = None
    if shape is not None:
        per = KV_BYTES.get(backend) or (2 if fmt == "bf16" else 4)
        kv = shape.kv_bytes(context, per)
    need = weights + (kv or 0) if weights else None
    verdict, text = _memory_verdict(need, available, budget, total, kv is not None, context)
    per_token = None
    if read_per_token:
        # from the model's own tensors (services/models/weight_bytes.py), as the runtime holds them
        per_token = read_per_token * (bits / stored_bits if bits and stored_bits else 1)
    elif weights and shape is not None and bits:
        embed_bits = 32 if backend == "onnx" and on_disk else bits  # the builder leaves it fp32
        per_token = weights - shape.embedding_params() * embed_bits / 8
        if shape.active_params_b and shape.params_b:
            per_token *= shape.active_params_b / shape.params_b
        per_token = per_token if per_token > 0 else None
    elif weights:
        per_token = float(weights)  # no shape: the whole file, a slight overestimate
    prediction = measured_mod.predict(measured_mod.efficiency_key(backend, fmt), per_token, measured,
                                      bandwidth or measured_mod.Bandwidth(None, measured_mod.NOT_MEASURED))
    return Fit(verdict, text, need, weights, kv, context, prediction, fmt)


@dataclass(frozen=True)
class Here:
    """This machine's side of every estimate, read once per listing."""

    measured: measured_mod.Measured | None
    bandwidth: measured_mod.Bandwidth
    available: int | None
    budget: int | None
    total: int | None

    def to_dict(self) -> dict:
        m = self.measured
        return {"bandwidth_gbs": self.bandwidth.gbs, "bandwidth_source": self.bandwidth.source,
                "measured_file": m.path if m else None, "measured_cpu": m.cpu if m else None,
                "machine_cpu": measured_mod.machine_cpu(), "available_bytes": self.available,
                "budget_bytes": self.budget, "memory_bytes": self.total, "context": FIT_CONTEXT}


def here(path: str | Path | None = None) -> Here:
    """Measurements, bandwidth, free memory and the model budget, as they stand now."""
    m = measured_mod.load(path)
    try:
        available = int(psutil.virtual_memory().available)
    except (OSError, RuntimeError):
        available = None
    try:
        budget = budget_bytes()
    except BadRequest:
        budget = None  # a malformed PHI_PLAYGROUND_MODEL_MEMORY_GB is said where a model loads, not here
    return Here(m, measured_mod.bandwidth_here(m), available, budget, machine_memory())


@functools.lru_cache(maxsize=64)
def _read_per_token(path: str, mtime_ns: int, size: int) -> float | None:
    try:
        return weight_bytes.of(Path(path)).per_token or None
    except Exception:  # a file the runtime cannot read either: the estimate from the shape stands
        return None


def read_per_token(path: Path) -> float | None:
    """Weight bytes one decoded token reads, from the model's own files; read again only when they change."""
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError:
        return None
    return _read_per_token(str(p), st.st_mtime_ns, st.st_size)


def _fmt_of_variant(v: Variant, on_disk: int | None, total: int | None) -> tuple[str, float | None]:
    """The format the runtime runs and the bits per weight stored on disk."""
    backend = BACKEND_OF_KIND[v.runtime]
    if backend == "transformers":
        return transformers_format(v.format, on_disk or int(v.download_gb * 1e9), total), FORMAT_BITS.get(v.format)
    return v.format, bits_per_weight(backend, v.format, v.subfolder)


def for_variant(v: Variant, h: Here, installed: LocalModel | None = None) -> Fit:
    """Fit and speed of a downloadable variant (its real size when it is on disk)."""
    on_disk = folder_bytes(installed.path) if installed is not None else None
    fmt, stored = _fmt_of_variant(v, on_disk, h.total)
    shape = shape_for(v.model)
    read = read_per_token(installed.path) if installed is not None else None
    return estimate(BACKEND_OF_KIND[v.runtime], fmt, shape, on_disk=on_disk, stored_bits=stored,
                    read_per_token=read, where=v.subfolder, measured=h.measured, bandwidth=h.bandwidth,
                    available=h.available, budget=h.budget, total=h.total)


def _with_params(own: Shape | None, named: Shape | None) -> Shape | None:
    """The model's own shape from its files, with the parameter counts its name gives (else the name's shape)."""
    if own is None:
        return named
    return Shape(named.params_b if named else 0.0, own.hidden, own.layers, own.kv_heads, own.head_dim, own.vocab,
                 named.active_params_b if named else None)


def for_installed(m: LocalModel, h: Here, variant: Variant | None = None) -> Fit:
    """Fit and speed of an installed or added model, from its files (and its variant when known)."""
    if variant is not None:
        return for_variant(variant, h, m)
    path = m.path.resolve()
    backend = BACKEND_OF_KIND[m.kind]
    on_disk = folder_bytes(path)
    shape = shape_for(m.name) or shape_for(path.name)
    if m.kind == "transformers":
        shape = _with_params(shape_of_folder(path), shape)
        try:
            stored = str(json.loads((path / "config.json").read_text()).get("torch_dtype") or "float32")
        except (OSError, ValueError):
            stored = "float32"
        stored_fmt = {"bfloat16": "bf16", "float16": "fp16"}.get(stored, "fp32")
        fmt = transformers_format(stored_fmt, on_disk, h.total)
        stored_bits = FORMAT_BITS[stored_fmt]
    elif m.kind == "gguf":
        own, fmt = gguf_header(path)
        shape = _with_params(own, shape)
        fmt = fmt or format_of_file(path.name)
        stored_bits = bits_per_weight(backend, fmt)
    else:
        shape = _with_params(shape_of_onnx(path), shape)
        fmt = "int4" if "int4" in str(path).lower() else ("int8" if "int8" in str(path).lower() else "")
        stored_bits = bits_per_weight(backend, fmt, str(path))
    return estimate(backend, fmt, shape, on_disk=on_disk, stored_bits=stored_bits,
                    read_per_token=read_per_token(path), where=str(path),
                    measured=h.measured, bandwidth=h.bandwidth, available=h.available, budget=h.budget,
                    total=h.total)


def recommended(rows: list[tuple[str, Fit]]) -> set[str]:
    """Per model, the variant key that fits and is expected to decode fastest here (none unmeasured).

    rows are (model/variant key, fit); the choice follows the measured table, so it changes with it.
    """
    best: dict[str, tuple[float, str]] = {}
    for key, f in rows:
        rate = f.prediction.tokens_per_s
        if rate is None or f.verdict != "fits":
            continue
        model = key.split("/", 1)[0]
        if model not in best or rate > best[model][0]:
            best[model] = (rate, key)
    return {key for _rate, key in best.values()}
