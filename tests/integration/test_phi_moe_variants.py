"""The small Phi MoE models: native PhimoeForCausalLM with head_dim, pulled through the hub stand-in, routed.

The real Phi-tiny-MoE / Phi-mini-MoE cannot be downloaded here; a tiny random model with their field
layout (head_dim != hidden/heads, biases, auto_map to remote code, old weight names) stands in for them
on the stand-in hub, under the real variant's repo id.
"""

from __future__ import annotations

import json
import sys

import pytest

from services.models import local as local_models

from services.models import manager as model_manager

from services.reasoning import routing
from services.backends import get_backend
from services.backends.transformers import moe_sizes
from services.targets import list_targets
from services.types import GenerationParams
from tests.standins.hf_hub_standin import HubStandIn

pytestmark = pytest.mark.integration

NATIVE_ONLY = {"_name_or_path", "architectures", "auto_map", "model_type", "attention_dropout", "hidden_dropout",
               "expert_dropout", "hidden_act", "initializer_range", "output_router_logits", "rope_scaling",
               "rope_theta", "router_aux_loss_coef", "torch_dtype", "transformers_version", "use_cache"}


def _remote_code_loaded() -> bool:
    return any("slimmoe" in name or name.startswith("transformers_modules") for name in sys.modules)


def test_native_phimoe_honours_head_dim_and_old_weight_names(tiny_phimoe_slim):
    """transformers 5.2x's PhimoeConfig keeps head_dim and PhimoeAttention sizes q/k/v by it: no subclass needed."""
    import torch
    from transformers import PhimoeConfig, PhimoeForCausalLM

    cfg = json.loads((tiny_phimoe_slim / "config.json").read_text())
    assert cfg["head_dim"] * cfg["num_attention_heads"] != cfg["hidden_size"]  # the SlimMoE shape
    loaded = get_backend("transformers").load(str(tiny_phimoe_slim))
    model = loaded.model
    assert type(model) is PhimoeForCausalLM and not _remote_code_loaded()
    attn = model.model.layers[0].self_attn
    assert attn.head_dim == cfg["head_dim"]
    assert attn.q_proj.weight.shape == (cfg["num_attention_heads"] * cfg["head_dim"], cfg["hidden_size"])
    assert attn.k_proj.bias is not None and model.lm_head.bias is not None
    # the same function as the model the checkpoint was written from (old w1/w2/w3 names converted on load)
    torch.manual_seed(0)
    fields = {k: v for k, v in cfg.items() if k not in NATIVE_ONLY}
    reference = PhimoeForCausalLM(PhimoeConfig(**fields, rope_parameters={"rope_type": "default",
                                                                          "rope_theta": cfg["rope_theta"]})).eval()
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    with torch.inference_mode():
        assert torch.allclose(model(ids.to(torch.long)).logits.float(), reference(ids).logits, atol=1e-4)


def test_routing_on_the_slim_layout_and_what_the_page_shows(tiny_phimoe_slim):
    target = f"transformers:{tiny_phimoe_slim}"
    stream = routing.route_prompt(target, "What is 17 times 23?", GenerationParams(temperature=0, max_tokens=4))
    n = stream.metrics.prompt_tokens + stream.metrics.completion_tokens
    assert len(stream.routing) == 2 * n and all(len(e.experts) == 2 and e.n_experts == 4 for e in stream.routing)
    info = routing.model_info(target)
    assert info["model_type"] == "phimoe" and "sparsemixer" in info["scoring"]
    assert info["random_weights"] == "the model folder is marked as holding random weights"
    assert 0 < info["active_params"] < info["total_params"] and (info["n_experts"], info["top_k"]) == (4, 2)
    assert moe_sizes.counts_from_config(tiny_phimoe_slim)["total_params"] == info["total_params"]


def test_phi_tiny_moe_variant_downloads_and_routes(tiny_phimoe_slim, tmp_path, monkeypatch):
    """The real variant's download path, served a stand-in of its repo: no remote code fetched, routing works."""
    v = local_models.find_variant("phi-tiny-moe-instruct")
    assert v.runtime == "transformers" and v.moe and (v.params_b, v.active_params_b) == (3.8, 1.1)
    files = {p.name: p.read_bytes() for p in tiny_phimoe_slim.iterdir() if p.is_file()}
    files["README.md"] = b"# Phi-tiny-MoE\n"
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with HubStandIn({v.repo: files}) as standin:
        monkeypatch.setenv("HF_ENDPOINT", standin.url)
        events = []
        model = model_manager.pull(v, on_event=events.append)
        fetched = {r.path.rsplit("/", 1)[-1] for r in standin.file_gets()}
    assert events and "model.safetensors" in fetched
    assert not fetched & {"configuration_slimmoe.py", "modeling_slimmoe.py", "README.md", "RANDOM_WEIGHTS"}
    assert model.target == "transformers:phi-tiny-moe-instruct" == v.target
    assert model.target in [t.target for t in list_targets()]
    assert local_models.family_of(model.name) == "Phi-tiny-MoE"
    backend = get_backend("transformers")
    assert backend.capabilities(model.name).moe_routing  # from config.json, before loading
    stream = routing.route_prompt(model.target, "Hi", GenerationParams(temperature=0, max_tokens=3))
    assert stream.routing and not _remote_code_loaded()
    info = routing.model_info(model.target)
    # no marker came down (not in the variant's patterns): the cheap check still sees fresh routers
    assert info["random_weights"] and "initial spread" in info["random_weights"]
    model_manager.remove(model.target)
