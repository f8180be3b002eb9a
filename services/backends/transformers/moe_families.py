"""Which MoE families we can route, and how each one's router is found and read (transformers 5.2x).

Every MoE causal LM in transformers 5.2x names its router class in `_can_record_outputs["router_logits"]`
(an OutputRecorder: the class, which output index holds the logits, sometimes a layer name); that is
how `output_router_logits` finds it, and we find it the same way, per architecture, not by a class
name pattern. What the router returns differs by family, so each family names a reader:

- "triple": (logits, weights, experts) — the weights the MoE block multiplies by, as the family
  scored them (softmax, sparsemixer, sigmoid with bias, ...). Most families.
- "llama4": (scores, logits); scores hold sigmoid(top-k logit) at the chosen experts, 0 elsewhere.
- "dbrx": logits only; the FFN's own `route_tokens_to_experts(logits)` gives (weights, experts).

Shared experts (every token uses them) are found beside the router: `shared_expert` (Qwen2-MoE, with
a sigmoid gate `shared_expert_gate`), `shared_experts` (DeepSeek, GLM-4.5, ERNIE: n fused experts),
`shared_mlp` (Granite MoE shared, on the decoder layer). A family not listed here is refused by name.
Each listed family is built tiny and checked against the model's own router output in the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """How one architecture routes: the reader of its router output and a short description."""

    reader: str
    scoring: str


_SOFTMAX_TOPK = "softmax over all experts, top-k"
_SOFTMAX_NORM = "softmax over all experts, top-k, renormalised to sum 1 when the config says so"
_TOPK_SOFTMAX = "top-k logits, then softmax over those k"
_SIGMOID_BIAS = "sigmoid scores plus a per-expert bias pick top-k (group-limited); weights renormalised and scaled"

# model_type -> Family; every entry is checked by tests/integration/test_routing_families.py
FAMILIES: dict[str, Family] = {
    "phimoe": Family("triple", "sparsemixer: two slots in turn, each a softmax over near-max logits; "
                               "weights do not sum to 1"),
    "mixtral": Family("triple", "softmax over all experts, top-k, renormalised to sum 1"),
    "minimax": Family("triple", "softmax over all experts, top-k, renormalised to sum 1"),
    "minimax_m2": Family("triple", "sigmoid scores plus a per-expert bias pick top-k; weights renormalised"),
    "olmoe": Family("triple", _SOFTMAX_NORM),
    "flex_olmo": Family("triple", _SOFTMAX_NORM),
    "qwen2_moe": Family("triple", _SOFTMAX_NORM),
    "qwen3_moe": Family("triple", _SOFTMAX_NORM),
    "granitemoe": Family("triple", _TOPK_SOFTMAX),
    "granitemoe_swa": Family("triple", _TOPK_SOFTMAX),
    "granitemoeshared": Family("triple", _TOPK_SOFTMAX),
    "gpt_oss": Family("triple", _TOPK_SOFTMAX),
    "deepseek_v2": Family("triple", "softmax over all experts, top-k (greedy or group-limited), scaled"),
    "deepseek_v3": Family("triple", _SIGMOID_BIAS),
    "glm4_moe": Family("triple", _SIGMOID_BIAS),
    "glm4_moe_lite": Family("triple", _SIGMOID_BIAS),
    "ernie4_5_moe": Family("triple", "softmax over all experts, top-k after a per-expert bias, renormalised"),
    "hunyuan_v1_moe": Family("triple", _SOFTMAX_TOPK),
    "jamba": Family("triple", "softmax over all experts, top-k, not renormalised"),
    "aria_text": Family("triple", _TOPK_SOFTMAX),
    "cohere2_moe": Family("triple", "top-k logits, then softmax or sigmoid (the config's expert_selection_fn)"),
    "exaone_moe": Family("triple", _SIGMOID_BIAS),
    "solar_open": Family("triple", _SIGMOID_BIAS),
    "afmoe": Family("triple", "sigmoid scores plus a per-expert bias pick top-k"),
    "axk1": Family("triple", _SIGMOID_BIAS),
    "dots1": Family("triple", _SIGMOID_BIAS),
    "flint": Family("triple", "sigmoid scores, top-k, renormalised when the config says so"),
    "hy_v3": Family("triple", "sigmoid scores plus a per-expert bias pick top-k; weights scaled"),
    "kolibri1": Family("triple", "top-k of logits plus a per-expert bias; sigmoid of the chosen logits"),
    "laguna": Family("triple", "sigmoid scores plus a per-expert bias pick top-k; the routed sum is then scaled"),
    "lara_mini": Family("triple", _SOFTMAX_NORM),
    "mellum": Family("triple", _SOFTMAX_NORM),
    "mimo_v2_flash": Family("triple", _SIGMOID_BIAS),
    "nemotron_h": Family("triple", _SIGMOID_BIAS),
    "qwen3_next": Family("triple", _SOFTMAX_NORM),
    "qwen3_5_moe_text": Family("triple", _SOFTMAX_NORM),
    "llama4_text": Family("llama4", "top-k logits, sigmoid of each (not normalised)"),
    "dbrx": Family("dbrx", "softmax over all experts, top-k, p-norm normalised"),
}

# config fields that count the shared experts fused into one shared MLP
_SHARED_COUNT = ("n_shared_experts", "num_shared_experts", "moe_num_shared_experts", "num_shared_expert")
_SHARED_ATTRS = ("shared_expert", "shared_experts", "shared_mlp")
_LAYER = re.compile(r"(?:^|\.)(?:layers|blocks)\.(\d+)\.")


@dataclass
class RouterSite:
    """One MoE layer: its router, where the logits are in its output, and its shared experts."""

    layer: int
    name: str
    router: object
    block: object
    shared: int = 0
    shared_gate: object = None


def model_type(model) -> str:
    """The config's model_type (the text config's for a multimodal wrapper)."""
    cfg = model.config
    return getattr(cfg, "model_type", "") or ""


def family_of(model) -> Family | None:
    """The Family of a loaded model, or None when we do not know how it routes."""
    return FAMILIES.get(model_type(model))


def _recorder(model):
    """The OutputRecorder transformers uses for router_logits on this model, or None."""
    for module in model.modules():  # the causal LM, or the decoder it wraps
        spec = getattr(type(module), "_can_record_outputs", None) or {}
        if "router_logits" in spec:
            return spec["router_logits"]
    return None


def _shared_count(config) -> int:
    for key in _SHARED_COUNT:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def find_sites(model) -> list[RouterSite]:
    """Every MoE layer's router of a known family, in layer order (empty for unknown families)."""
    if model is None or family_of(model) is None:
        return []
    spec = _recorder(model)
    cls = getattr(spec, "target_class", None)
    if cls is None:
        return []
    wanted = getattr(spec, "layer_name", None)
    modules = dict(model.named_modules())
    sites = []
    for name, module in modules.items():
        if not isinstance(module, cls) or (wanted and not name.endswith(wanted)):
            continue
        m = _LAYER.search(name)
        if not m:
            continue
        parent_name = name.rsplit(".", 1)[0]
        block = modules.get(parent_name)
        layer_module = modules.get(name[: m.end() - 1])
        site = RouterSite(int(m.group(1)), name, module, block)
        for holder in (block, layer_module):
            found = next((a for a in _SHARED_ATTRS if getattr(holder, a, None) is not None), None)
            if found:
                site.shared = _shared_count(model.config)
                site.shared_gate = getattr(holder, "shared_expert_gate", None)
                break
        sites.append(site)
    return sorted(sites, key=lambda s: s.layer)


def read(family: Family, site: RouterSite, output):
    """(experts, weights, n_experts) tensors from one router call, rows = tokens, as the block uses them."""
    import torch

    if family.reader == "triple":
        logits, weights, experts = output[0], output[1], output[2]
    elif family.reader == "llama4":
        scores, logits = output[0], output[1]
        k = site.router.top_k
        experts = torch.topk(logits, k, dim=-1).indices
        weights = scores.gather(-1, experts)
    elif family.reader == "dbrx":
        logits = output
        weights, experts = site.block.route_tokens_to_experts(logits)
    else:
        raise ValueError(f"unknown router reader {family.reader!r}")
    k = experts.shape[-1]
    return experts.reshape(-1, k), weights.reshape(-1, k), int(logits.shape[-1])
