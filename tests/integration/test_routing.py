"""Expert routing on a tiny random PhimoeForCausalLM: every token, every layer, top-k as given, no leaks."""

import csv
import io
import json
import math

import pytest

from services.reasoning import routing
from services.backends import get_backend
from services.chat import start_chat
from services.errors import BadRequest
from services.types import GenerationParams, Message, Routing

pytestmark = pytest.mark.integration

PARAMS = GenerationParams(temperature=0.0, max_tokens=6)


def hooks_on(model) -> int:
    """Forward hooks on the routers plus pre-hooks on the decoder: where a leak would show."""
    return (sum(len(r._forward_hooks) for _, r in routing.find_routers(model))
            + len(model.model._forward_pre_hooks))


def run(target, prompt="Phi-3 routes tokens.", **kw):
    return start_chat(target, [Message("user", prompt)], kw.pop("params", PARAMS), **kw).finish()


def test_capabilities_and_router_discovery(tiny_phimoe):
    backend = get_backend("transformers")
    assert backend.capabilities(str(tiny_phimoe)).moe_routing  # from config.json, before loading
    model = backend.load(str(tiny_phimoe)).model
    found = routing.find_routers(model)
    assert [layer for layer, _ in found] == [0, 1]
    assert all(r is model.model.layers[i].mlp.router for i, r in found)


def test_every_token_and_layer_is_routed(tiny_phimoe):
    target = f"transformers:{tiny_phimoe}"
    backend = get_backend("transformers")
    cfg = backend.load(str(tiny_phimoe)).model.config
    stream = run(target, routing=True)
    events = stream.routing
    n_tokens = stream.metrics.prompt_tokens + stream.metrics.completion_tokens
    assert stream.metrics.completion_tokens > 0
    assert len(events) == n_tokens * cfg.num_hidden_layers
    by_position = {}
    for e in events:
        assert isinstance(e, Routing)
        assert len(e.experts) == cfg.num_experts_per_tok == len(e.weights)
        assert len(set(e.experts)) == len(e.experts)
        assert all(0 <= x < cfg.num_local_experts for x in e.experts)
        assert all(math.isfinite(w) for w in e.weights)
        assert e.n_experts == cfg.num_local_experts and e.shared == ()  # Phi MoE has no shared expert
        by_position.setdefault(e.position, set()).add(e.layer)
    # prompt tokens and every generated token, the last one included
    assert sorted(by_position) == list(range(n_tokens))
    assert all(layers == {0, 1} for layers in by_position.values())


def test_prompt_routing_matches_the_router_as_given(tiny_phimoe):
    """Recorded experts and weights equal sparsemixer over the router's own logits (not renormalised)."""
    import torch
    from transformers.models.phimoe.modeling_phimoe import sparsemixer

    backend = get_backend("transformers")
    loaded = backend.load(str(tiny_phimoe))
    messages = (Message("user", "Water boils at 100 degrees."),)
    ids = backend.prompt_ids(loaded, messages)
    stream = start_chat(f"transformers:{tiny_phimoe}", messages, PARAMS, routing=True).finish()
    with torch.inference_mode():
        out = loaded.model(input_ids=ids, output_router_logits=True)
    k = loaded.model.config.num_experts_per_tok
    for layer, logits in enumerate(out.router_logits):
        weights, experts = sparsemixer(logits, jitter_eps=0.01, training=False, top_k=k)
        got = {e.position: e for e in stream.routing if e.layer == layer and e.position < ids.shape[-1]}
        for pos in range(ids.shape[-1]):
            assert list(got[pos].experts) == experts[pos].tolist()
            assert list(got[pos].weights) == pytest.approx(weights[pos].tolist(), abs=1e-5)


def test_second_run_same_count_and_no_hooks_left(tiny_phimoe):
    target = f"transformers:{tiny_phimoe}"
    model = get_backend("transformers").load(str(tiny_phimoe)).model
    # transformers installs its own output-capturing hooks once output_router_logits is used
    before = hooks_on(model)
    first = run(target, routing=True)
    assert hooks_on(model) == before
    second = run(target, routing=True)
    assert hooks_on(model) == before
    assert len(second.routing) == len(first.routing) > 0
    assert run(target).routing == ()  # routing off: no events, no hooks


def test_abandoned_stream_removes_hooks(tiny_phimoe):
    model = get_backend("transformers").load(str(tiny_phimoe)).model
    before = hooks_on(model)
    stream = start_chat(f"transformers:{tiny_phimoe}", [Message("user", "hello")],
                        GenerationParams(temperature=0.0, max_tokens=40), routing=True)
    events = iter(stream)
    next(events)
    next(events)
    stream.close()
    assert hooks_on(model) == before


def test_dense_model_has_no_routing(tiny_phi3):
    target = f"transformers:{tiny_phi3}"
    assert not get_backend("transformers").capabilities(str(tiny_phi3)).moe_routing
    assert run(target, routing=True).routing == ()
    with pytest.raises(BadRequest, match="no expert routers"):
        routing.route_prompt(target, "hi")


def test_views_and_exports(tiny_phimoe):
    target = f"transformers:{tiny_phimoe}"
    a = routing.route_prompt(target, "The capital of France is Paris.", PARAMS).routing
    b = routing.route_prompt(target, "0 1 2 3 4 5 6 7 8 9", PARAMS).routing
    cells = routing.heatmap(a)
    assert len(cells) == len(a) and {c["layer"] for c in cells} == {0, 1}
    load = routing.expert_load(a)
    n_positions = len({e.position for e in a})
    assert set(load) == {0, 1} and all(sum(c.values()) == 2 * n_positions for c in load.values())
    diff = routing.routing_difference(a, b)
    assert [d["layer"] for d in diff] == [0, 1] and all(0 <= d["distance"] <= 1 for d in diff)
    assert routing.routing_difference(a, a)[0]["distance"] == 0
    rows = json.loads(routing.to_json(a))["routing"]
    assert len(rows) == len(a) and set(rows[0]) >= {"token", "layer", "experts", "weights"}
    table = list(csv.reader(io.StringIO(routing.to_csv(a))))  # tokens like "\n" are quoted fields
    assert table[0] == ["position", "token", "layer", "experts", "weights", "shared"] and len(table) == len(a) + 1
    assert table[1][3] == ";".join(map(str, a[0].experts))


def test_mixtral_style_router_is_recorded_too():
    """Mixtral's TopKRouter (mlp.gate) is found and recorded; its top-k weights are renormalised to 1."""
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(0)
    model = MixtralForCausalLM(MixtralConfig(
        vocab_size=64, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64)).eval()
    assert [i for i, _ in routing.find_routers(model)] == [0, 1]

    class Tok:
        def decode(self, ids, skip_special_tokens=False):
            return f"<{ids[0]}>"

    recorder = routing.recorder_for(model, Tok(), True)
    with routing.hooked(recorder), torch.inference_mode():
        model(input_ids=torch.tensor([[5, 6, 7]]))
    events = recorder.drain()
    assert recorder.hook_count == 0
    assert not model.model._forward_hooks and not model.model._forward_pre_hooks  # the step-framing hooks too
    assert [(e.position, e.layer) for e in events] == [(p, layer) for p in range(3) for layer in (0, 1)]
    assert events[0].token == "<5>"
    assert all(len(e.experts) == 2 and sum(e.weights) == pytest.approx(1.0, abs=1e-5) for e in events)
