"""Total and active parameters of a MoE model, and the memory its weights take, from its config.

Active parameters = total - (n_experts - top_k) / n_experts of the routed experts' parameters in
every MoE layer: what one token touches (attention, embeddings, norms, shared experts, k experts).
From a config alone the model is built on torch's meta device: shapes, no memory, no weights read.
"""

from __future__ import annotations

from services.backends.transformers import moe_families

# bytes per parameter at the dtypes the transformers backend runs
BYTES = {"float32": 4, "bfloat16": 2}


def counts(model) -> dict:
    """total, active and routed-expert parameters plus weight bytes per dtype, of a (meta or real) model."""
    total = sum(p.numel() for p in model.parameters())
    sites = moe_families.find_sites(model)
    idle = 0
    n_experts = top_k = 0
    for site in sites:
        experts = getattr(site.block, "experts", None)
        if experts is None:
            continue
        size = sum(p.numel() for p in experts.parameters())
        n_experts = int(getattr(experts, "num_experts", 0) or getattr(model.config, "num_local_experts", 0)
                        or getattr(model.config, "num_experts", 0) or getattr(model.config, "n_routed_experts", 0))
        top_k = int(getattr(site.router, "top_k", 0) or getattr(model.config, "num_experts_per_tok", 0))
        if n_experts and top_k:
            idle += size * (n_experts - top_k) // n_experts
    return {"total_params": total, "active_params": total - idle, "n_experts": n_experts, "top_k": top_k,
            "weight_bytes": {name: total * b for name, b in BYTES.items()}}


def counts_from_config(folder) -> dict:
    """counts() for a model folder without loading its weights (native classes only, no remote code)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(str(folder))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return counts(model)


# share of the machine's memory the weights may take (the rest: activations, the app, the OS)
FIT_SHARE = 0.8


def dtype_that_fits(folder, chosen: str, memory_bytes: int | None) -> str:
    """bfloat16 when the fp32 copy of a bf16/fp16 checkpoint would not fit in memory but bf16 does.

    Phi-tiny-MoE is 7.6 GB of bf16 safetensors: 15.2 GB in fp32, out of reach of a 16 GB machine
    that holds the bf16 weights easily. Only used when the user has not set a dtype.
    """
    import json
    from pathlib import Path

    folder = Path(folder)
    if chosen != "float32" or not memory_bytes or not folder.is_dir():
        return chosen
    try:
        stored = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("torch_dtype")
    except (OSError, ValueError):
        return chosen
    if stored not in ("bfloat16", "float16"):
        return chosen
    on_disk = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    budget = FIT_SHARE * memory_bytes
    return "bfloat16" if 2 * on_disk > budget >= on_disk else chosen
