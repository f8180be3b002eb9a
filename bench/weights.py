"""Bytes of weights each runtime reads per decoded token (the numerator of the bandwidth bound)."""

from __future__ import annotations

from pathlib import Path

# lookups read one row of these tables per token, not the whole table
LOOKUP_OPS = {"Gather", "GatherBlockQuantized"}


def onnx_bytes(folder: Path) -> float:
    """Initializer bytes of model.onnx, less tables only used for per-token lookups."""
    import onnx

    model = onnx.load(str(Path(folder) / "model.onnx"), load_external_data=False)
    users: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, set()).add(node.op_type)
    total = 0
    for init in model.graph.initializer:
        ops = users.get(init.name, set())
        if ops and ops <= LOOKUP_OPS:
            continue
        length = next((int(e.value) for e in init.external_data if e.key == "length"), None)
        total += length if length is not None else len(init.raw_data)
    return float(total)


def gguf_bytes(path: Path) -> float:
    """The GGUF file: its tied embedding is also the output matrix, so nearly all of it is read per token."""
    return float(Path(path).stat().st_size)


def safetensors_bytes(folder: Path) -> float:
    """The saved fp32 model: tied embedding and head are stored once, as they are read once per token."""
    return float(sum(f.stat().st_size for f in Path(folder).glob("*.safetensors")))


def torch_bytes(model) -> float:
    """Parameter and buffer bytes, each tensor once (tied embedding and head share storage)."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        ptr = t.data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        total += t.numel() * t.element_size()
    return float(total)
