"""Bytes of weights a decoder reads per generated token, from the model files alone (GGUF, ONNX, safetensors).

Every weight is read once per token except the token-embedding table, of which one row is read; a
mixture of experts reads only its active experts (num_experts_per_tok of num_local_experts).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

EMBEDDING_NAMES = ("token_embd.weight", "model.embed_tokens.weight", "transformer.wte.weight")
# lookups read one row of their tables per token
LOOKUP_OPS = {"Gather", "GatherBlockQuantized"}


@dataclass
class WeightBytes:
    """Size of the weights on disk and the part of it one decoded token reads."""

    file_bytes: float
    per_token: float
    active_fraction: float = 1.0  # experts read per token / experts stored (1.0 for a dense model)


def gguf(path: Path) -> WeightBytes:
    """From the GGUF tensor table: expert tensors (*_exps) at expert_used_count / expert_count."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    arch = _field(reader, "general.architecture") or ""
    count, used = _field(reader, f"{arch}.expert_count"), _field(reader, f"{arch}.expert_used_count")
    frac = used / count if count and used else 1.0
    names = {t.name for t in reader.tensors}
    total = per_token = 0.0
    for t in reader.tensors:
        n = float(t.n_bytes)
        total += n
        if t.name == "token_embd.weight" and "output.weight" in names:
            per_token += n / int(t.shape[-1])  # ggml order: shape[-1] is the number of rows
        elif "_exps" in t.name:
            per_token += n * frac
        else:
            per_token += n  # also a tied embedding: it is the output matrix too
    return WeightBytes(total, per_token, frac)


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    value = f.parts[f.data[0]]
    return bytes(value).decode() if f.types and f.types[0].name == "STRING" else value[0].item()


def onnx(folder: Path, active_fraction: float | None = None) -> WeightBytes:
    """From model.onnx's initializers (external data lengths): Gather-only tables count one row."""
    import onnx as onnx_lib

    folder = Path(folder)
    model_file = next(p for p in (folder / "model.onnx", *sorted(folder.glob("*.onnx"))) if p.exists())
    model = onnx_lib.load(str(model_file), load_external_data=False)
    users: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, set()).add(node.op_type)
    frac = _config_fraction(folder) if active_fraction is None else active_fraction
    total = per_token = 0.0
    for init in model.graph.initializer:
        length = next((int(e.value) for e in init.external_data if e.key == "length"), None)
        n = float(length if length is not None else len(init.raw_data))
        total += n
        ops = users.get(init.name, set())
        if ops and ops <= LOOKUP_OPS and init.dims:
            per_token += n / int(init.dims[0])
        elif "expert" in init.name:
            per_token += n * frac
        else:
            per_token += n
    return WeightBytes(total, per_token, frac)


def safetensors(folder: Path) -> WeightBytes:
    """From the safetensors headers: the embedding counts one row unless the head is tied to it."""
    folder = Path(folder)
    frac = _config_fraction(folder)
    tensors: dict[str, tuple[int, list[int]]] = {}
    for f in sorted(folder.glob("*.safetensors")):
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, meta in header.items():
            if name != "__metadata__":
                start, end = meta["data_offsets"]
                tensors[name] = (end - start, meta["shape"])
    has_head = any(name.startswith("lm_head.") for name in tensors)
    total = per_token = 0.0
    for name, (n, shape) in tensors.items():
        total += n
        if name in EMBEDDING_NAMES and has_head:
            per_token += n / shape[0]
        elif ".experts." in name:
            per_token += n * frac
        else:
            per_token += n
    return WeightBytes(total, per_token, frac)


def _config_fraction(folder: Path) -> float:
    """num_experts_per_tok / num_local_experts from config.json (1.0 when dense or absent)."""
    path = Path(folder) / "config.json"
    cfg = json.loads(path.read_text()) if path.exists() else {}
    experts, active = cfg.get("num_local_experts"), cfg.get("num_experts_per_tok")
    return active / experts if experts and active else 1.0


def of(path: Path) -> WeightBytes:
    """Whichever format path holds: a .gguf file, an ONNX folder or a safetensors folder."""
    path = Path(path)
    if path.suffix == ".gguf":
        return gguf(path)
    if any(path.glob("*.onnx")):
        return onnx(path)
    return safetensors(path)

