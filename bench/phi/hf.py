"""Seeded random-weight Hugging Face folders (bf16 safetensors) at a Phi config, written tensor by tensor."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

from bench.phi import configs, tokenizer

SHARD_BYTES = 2 * 1024**3


def tensor_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Every weight of the published checkpoint layout (the names the converters read) and its shape."""
    h, v, n = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = h // heads
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (v, h)}
    for i in range(n):
        p = f"model.layers.{i}."
        if configs.is_moe(cfg):
            # Phi-3.5-MoE: separate q/k/v with biases, LayerNorm (weight and bias), 16 experts w1/w2/w3
            ff, e = cfg["intermediate_size"], cfg["num_local_experts"]
            for proj, rows in (("q", heads * d), ("k", kv * d), ("v", kv * d), ("o", h)):
                out[f"{p}self_attn.{proj}_proj.weight"] = (rows, h)
                out[f"{p}self_attn.{proj}_proj.bias"] = (rows,)
            out[f"{p}block_sparse_moe.gate.weight"] = (e, h)
            for j in range(e):
                out[f"{p}block_sparse_moe.experts.{j}.w1.weight"] = (ff, h)
                out[f"{p}block_sparse_moe.experts.{j}.w2.weight"] = (h, ff)
                out[f"{p}block_sparse_moe.experts.{j}.w3.weight"] = (ff, h)
            for norm in ("input_layernorm", "post_attention_layernorm"):
                out[f"{p}{norm}.weight"], out[f"{p}{norm}.bias"] = (h,), (h,)
        else:
            # Phi-3: fused qkv and gate_up, RMSNorm
            ff = cfg["intermediate_size"]
            out[f"{p}self_attn.qkv_proj.weight"] = ((heads + 2 * kv) * d, h)
            out[f"{p}self_attn.o_proj.weight"] = (h, heads * d)
            out[f"{p}mlp.gate_up_proj.weight"] = (2 * ff, h)
            out[f"{p}mlp.down_proj.weight"] = (h, ff)
            out[f"{p}input_layernorm.weight"] = (h,)
            out[f"{p}post_attention_layernorm.weight"] = (h,)
    out["model.norm.weight"] = (h,)
    if configs.is_moe(cfg):
        out["model.norm.bias"] = (h,)
    out["lm_head.weight"] = (v, h)
    if cfg.get("lm_head_bias"):
        out["lm_head.bias"] = (v,)
    return out


def _tensor(name: str, shape: tuple[int, ...], seed: int):
    import torch

    if name.endswith("norm.weight"):
        return torch.ones(shape, dtype=torch.bfloat16)
    if name.endswith(".bias"):
        return torch.zeros(shape, dtype=torch.bfloat16)
    # each tensor from its own seed: the same weights whatever the depth or the order of writing
    g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    return (torch.randn(shape, generator=g, dtype=torch.float32) * 0.02).to(torch.bfloat16)


def tokenizer_files(cache: Path, seed: int, progress) -> Path:
    """The tokenizer of this seed, trained once and copied into every model folder."""
    out = Path(cache) / f"tokenizer-s{seed}"
    if (out / ".done").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    progress(f"training the tokenizer (SentencePiece BPE, {tokenizer.PIECES} pieces) in {out}")
    tokenizer.build(out, seed)
    (out / ".done").touch()
    return out


def write(folder: Path, name: str, layers: int, seed: int, tokenizer_dir: Path, progress) -> Path:
    """config.json, generation_config.json, the tokenizer and sharded model-*.safetensors with their index."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = configs.config(name, layers)
    (folder / "config.json").write_text(json.dumps({**cfg, "transformers_version": "5.25.0"}, indent=2))
    (folder / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 1, "eos_token_id": [32007, 32001, 32000], "pad_token_id": 32000}, indent=2))
    for f in tokenizer_dir.iterdir():
        if f.name != ".done":
            shutil.copy2(f, folder / f.name)
    shapes = tensor_shapes(cfg)
    total = sum(2 * _numel(s) for s in shapes.values())
    shards: list[dict[str, tuple]] = [{}]
    size = 0
    for key, shape in shapes.items():
        if size and size + 2 * _numel(shape) > SHARD_BYTES:
            shards.append({})
            size = 0
        shards[-1][key] = shape
        size += 2 * _numel(shape)
    index, done = {}, 0
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: _tensor(k, s, seed) for k, s in shard.items()}, str(folder / fname), metadata={"format": "pt"})
        index.update({k: fname for k in shard})
        done += sum(2 * _numel(s) for s in shard.values())
        progress(f"weights {done / 1e9:.2f} / {total / 1e9:.2f} GB written")
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": index}, indent=2))
    return folder


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
