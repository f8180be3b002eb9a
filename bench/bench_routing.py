"""Routing hooks' cost per forward pass on tiny random MoE models, and config-only parameter counts.

python -m bench.bench_routing   prints a table; nothing here is asserted (tests check correctness).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

FAMILIES = ("phimoe", "qwen2_moe", "deepseek_v3", "granitemoeshared")
# the small Phi MoE configs' shapes (as their model cards and configs give them) and Phi-3.5-MoE's
SHAPES = {
    "Phi-tiny-MoE": dict(intermediate_size=448, num_attention_heads=16, num_key_value_heads=4, head_dim=128),
    "Phi-mini-MoE": dict(intermediate_size=960, num_attention_heads=32, num_key_value_heads=8, head_dim=128),
    "Phi-3.5-MoE": dict(intermediate_size=6400, num_attention_heads=32, num_key_value_heads=8),
}


def _forward_ms(model, ids, recorder=None, reps: int = 30) -> tuple[float, float]:
    """(ms per forward with hooks on when a recorder is given, ms of that spent turning records into events)."""
    import torch

    from services.backends.transformers import moe_routing

    drained = 0.0
    with torch.inference_mode():
        model(input_ids=ids)  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            with moe_routing.hooked(recorder):
                model(input_ids=ids)
            if recorder is not None:
                t = time.perf_counter()
                recorder.drain()
                drained += time.perf_counter() - t
    return (time.perf_counter() - start) / reps * 1000, drained / reps * 1000


def hook_cost() -> list[tuple]:
    """(family, tokens, ms without hooks, ms with hooks, ms draining) per tiny model and prompt length."""
    import torch

    from services.backends.transformers import moe_routing
    from tests.fixtures.tiny_models import build_tokenizer, tiny_moe

    tok = build_tokenizer(Path(tempfile.mkdtemp()))
    rows = []
    for family in FAMILIES:
        model = tiny_moe(family, len(tok))
        for n in (1, 64):
            ids = torch.randint(10, len(tok), (1, n))
            plain, _ = _forward_ms(model, ids)
            hooked, drain = _forward_ms(model, ids, moe_routing.recorder_for(model, tok, True))
            rows.append((family, n, plain, hooked, drain))
    return rows


def config_counts() -> list[tuple]:
    """(model, total, active, bf16 GB, seconds) counted from a config on the meta device."""
    from services.backends.transformers import moe_sizes

    base = {"model_type": "phimoe", "hidden_size": 4096, "num_hidden_layers": 32, "num_local_experts": 16,
            "num_experts_per_tok": 2, "vocab_size": 32064, "attention_bias": True, "tie_word_embeddings": False,
            "torch_dtype": "bfloat16"}
    rows = []
    for name, shape in SHAPES.items():
        folder = Path(tempfile.mkdtemp())
        (folder / "config.json").write_text(json.dumps({**base, **shape}))
        start = time.perf_counter()
        c = moe_sizes.counts_from_config(folder)
        rows.append((name, c["total_params"], c["active_params"], c["weight_bytes"]["bfloat16"],
                     time.perf_counter() - start))
    return rows


def main() -> None:
    # tiny models make a forward almost free, so this is the worst case; on a busy machine the two
    # forward columns are noisy, the drain column (our own Python) is the steadier number
    print(f"{'family':18s} {'tokens':>6s} {'no hooks ms':>12s} {'hooks ms':>9s} {'drain ms':>9s}")
    for family, n, plain, hooked, drain in hook_cost():
        print(f"{family:18s} {n:6d} {plain:12.2f} {hooked:9.2f} {drain:9.2f}")
    print()
    print(f"{'model':14s} {'total':>8s} {'active':>8s} {'bf16 GB':>8s} {'count s':>8s}")
    for name, total, active, b, s in config_counts():
        print(f"{name:14s} {total / 1e9:7.2f}B {active / 1e9:7.2f}B {b / 1e9:8.1f} {s:8.2f}")


if __name__ == "__main__":
    main()
