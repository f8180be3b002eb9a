"""Routing for every MoE family in the table, each on a tiny random model of the installed transformers.

For each family: every MoE layer and every token is captured with top-k experts; the experts and
weights equal what the MoE block hands its experts (a hook on the experts module's inputs, read apart
from the router) or, for Llama 4, the recomputation from output_router_logits; shared experts are
marked; every hook is removed afterwards.
"""

import pytest

from services.backends.transformers import moe_families

from services.backends.transformers import moe_routing

from services.backends.transformers import moe_sizes
from tests.fixtures.tiny_models import build_tokenizer, tiny_moe

pytestmark = pytest.mark.integration

# families whose tiny config carries shared experts, and whether they are gated per token
SHARED = {"qwen2_moe": True, "deepseek_v2": False, "deepseek_v3": False, "glm4_moe": False,
          "glm4_moe_lite": False, "granitemoeshared": False, "hunyuan_v1_moe": False, "llama4_text": False,
          "ernie4_5_moe": False, "aria_text": False, "exaone_moe": False, "solar_open": False,
          "granitemoe_swa": False, "afmoe": False, "axk1": False, "dots1": False, "flint": False, "hy_v3": False,
          "kolibri1": False, "laguna": False, "lara_mini": False, "qwen3_next": True, "qwen3_5_moe_text": True,
          "nemotron_h": False}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("moe-tok"))


def _moe_layers(model) -> list[int]:
    return [s.layer for s in moe_families.find_sites(model)]


def _expert_inputs(model):
    """Hooks on each MoE block's experts module capturing (top_k_index, top_k_weights) as the block passed them."""
    seen, handles = {}, []
    for site in moe_families.find_sites(model):
        experts = getattr(site.block, "experts", None)
        if experts is None:
            continue

        def hook(module, args, kwargs, layer=site.layer):
            if len(args) < 3:  # Llama 4's experts get tokens already scaled, not (index, weights)
                return
            seen[layer] = (args[1].reshape(-1, args[1].shape[-1]).tolist(),
                           args[2].reshape(-1, args[2].shape[-1]).float().tolist())
        handles.append(experts.register_forward_pre_hook(hook, with_kwargs=True))
    return seen, handles


@pytest.mark.parametrize("family", sorted(moe_families.FAMILIES))
def test_family_is_routed_as_the_block_uses_it(family, tokenizer):
    import torch

    model = tiny_moe(family, len(tokenizer))
    sites = moe_families.find_sites(model)
    assert sites, f"no routers found for {family}"
    ids = tokenizer("Mixture of experts routes tokens.", return_tensors="pt")["input_ids"]
    n = ids.shape[-1]
    recorder = moe_routing.recorder_for(model, tokenizer, True)
    with torch.inference_mode():  # transformers adds its own output-capturing hooks on first use
        model(input_ids=ids, output_router_logits=True)
    before = {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}
    seen, handles = _expert_inputs(model)
    try:
        with moe_routing.hooked(recorder), torch.inference_mode():
            out = model(input_ids=ids, output_router_logits=True)
    finally:
        for h in handles:
            h.remove()
    events = recorder.drain()
    # hooks gone, every module as before
    assert recorder.hook_count == 0
    assert {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()} == before
    layers = _moe_layers(model)
    assert len(events) == n * len(layers)
    assert sorted({(e.position, e.layer) for e in events}) == [(p, la) for p in range(n) for la in layers]
    k = len(events[0].experts)
    assert k == 2 and all(len(e.experts) == len(e.weights) == k and len(set(e.experts)) == k for e in events)
    assert all(e.n_experts >= 4 and all(0 <= x < e.n_experts for x in e.experts) for e in events)
    by_key = {(e.layer, e.position): e for e in events}
    if seen:  # the experts module's own inputs: exactly what the block multiplies by
        for layer, (experts, weights) in seen.items():
            for pos in range(n):
                assert list(by_key[(layer, pos)].experts) == experts[pos]
                assert list(by_key[(layer, pos)].weights) == pytest.approx(weights[pos], abs=1e-5)
    if family == "llama4_text":  # recompute from the router logits transformers returns
        for layer, logits in zip(layers, out.router_logits, strict=True):
            top = torch.topk(logits.reshape(n, -1), k, dim=-1)
            for pos in range(n):
                assert list(by_key[(layer, pos)].experts) == top.indices[pos].tolist()
                assert list(by_key[(layer, pos)].weights) == pytest.approx(top.values[pos].sigmoid().tolist(), abs=1e-5)
    else:
        assert seen, f"{family}: the experts module's inputs were not seen"
    # shared experts: marked on every token of the layers that have them
    if family in SHARED:
        assert all(e.shared for e in events), f"{family}: shared experts not marked"
        if SHARED[family]:
            assert all(0 < w < 1 for e in events for w in e.shared)  # a sigmoid gate, per token
        else:
            assert all(set(e.shared) == {1.0} for e in events)
    else:
        assert not any(e.shared for e in events)


def test_qwen2_moe_shared_gate_is_the_models_sigmoid(tokenizer):
    import torch

    model = tiny_moe("qwen2_moe", len(tokenizer))
    ids = tokenizer("Water boils at 100 degrees.", return_tensors="pt")["input_ids"]
    recorder = moe_routing.recorder_for(model, tokenizer, True)
    captured = {}
    block = model.model.layers[1].mlp

    def keep(module, args):
        captured["x"] = args[0].reshape(-1, args[0].shape[-1])

    h = block.register_forward_pre_hook(keep)
    try:
        with moe_routing.hooked(recorder), torch.inference_mode():
            model(input_ids=ids)
    finally:
        h.remove()
    with torch.inference_mode():
        gate = torch.sigmoid(block.shared_expert_gate(captured["x"])).reshape(-1).tolist()
    got = [e.shared[0] for e in recorder.drain() if e.layer == 1]
    assert got == pytest.approx(gate, abs=1e-5)


def test_unknown_family_is_refused_by_name(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "switch_transformers", "num_experts": 8}))
    reason = moe_routing.unavailable_reason(str(tmp_path))
    assert reason.startswith("Routing is not available for switch_transformers")
    assert not moe_routing.looks_moe(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "phi3"}))
    assert moe_routing.unavailable_reason(str(tmp_path)) is None  # dense: nothing to explain


def test_active_and_total_parameters(tokenizer):
    """Active = total minus the idle share of routed experts; checked by hand on the tiny Mixtral."""
    model = tiny_moe("mixtral", len(tokenizer))
    c = moe_sizes.counts(model)
    total = sum(p.numel() for p in model.parameters())
    experts = sum(p.numel() for layer in model.model.layers for p in layer.mlp.experts.parameters())
    assert c["total_params"] == total and c["n_experts"] == 4 and c["top_k"] == 2
    assert c["active_params"] == total - experts // 2
    assert c["weight_bytes"] == {"float32": 4 * total, "bfloat16": 2 * total}


def test_random_weights_are_noticed_without_a_marker(tokenizer):
    """The cheap check: fresh routers keep their initial spread; scaled (trained-looking) ones do not."""
    import torch

    model = tiny_moe("olmoe", len(tokenizer))
    assert moe_routing.weights_look_random(model)
    with torch.no_grad():
        for _, router in moe_routing.find_routers(model):
            router.weight.mul_(3.0)
    assert moe_routing.weights_look_random(model) is None


@pytest.mark.parametrize("family", ["qwen2_moe", "deepseek_v3", "olmoe"])
def test_generation_through_the_backend_routes_other_families(family, tmp_path):
    """generate() on a saved tiny model of another family: every token routed, shared experts marked."""
    from services.reasoning import routing
    from services.types import GenerationParams
    from tests.fixtures.tiny_models import build_tiny_moe_folder

    folder = build_tiny_moe_folder(family, tmp_path / family)
    target = f"transformers:{folder}"
    stream = routing.route_prompt(target, "Phi-3 routes tokens.", GenerationParams(temperature=0, max_tokens=4))
    n = stream.metrics.prompt_tokens + stream.metrics.completion_tokens
    layers = {e.layer for e in stream.routing}
    assert len(stream.routing) == n * len(layers) and sorted({e.position for e in stream.routing}) == list(range(n))
    assert all(bool(e.shared) == (family in SHARED) for e in stream.routing)
    info = routing.model_info(target)
    assert info["model_type"] == family and info["random_weights"] and info["available"]
