"""Routing views computed from hand-made Routing events (no model): heatmap, load, difference, guess."""

import json

from services.reasoning import routing
from services.types import Routing

A = [Routing("Hi", 0, (0, 1), (0.9, 0.4), 0), Routing("Hi", 1, (2, 3), (0.2, 0.7), 0),
     Routing("!", 0, (0, 2), (0.5, 0.5), 1), Routing("!", 1, (3, 1), (0.6, 0.1), 1)]
B = [Routing("Yo", 0, (2, 3), (0.8, 0.3), 0), Routing("Yo", 1, (2, 3), (0.9, 0.2), 0)]


def test_heatmap_takes_the_top_weighted_expert():
    cells = routing.heatmap(A)
    assert [(c["position"], c["layer"], c["expert"]) for c in cells] == [(0, 0, 0), (0, 1, 3), (1, 0, 0), (1, 1, 3)]
    assert cells[1]["weight"] == 0.7 and cells[1]["experts"] == "2, 3"


def test_expert_load_counts_every_chosen_expert():
    assert routing.expert_load(A) == {0: {0: 2, 1: 1, 2: 1}, 1: {1: 1, 2: 1, 3: 2}}


def test_difference_is_total_variation_per_layer():
    diff = {d["layer"]: d for d in routing.routing_difference(A, B)}
    # layer 0: A = {0: .5, 1: .25, 2: .25}, B = {2: .5, 3: .5} -> 0.5 * (.5 + .25 + .25 + .5) = 0.75
    assert diff[0]["distance"] == 0.75 and diff[0]["experts"] == [0, 1, 2, 3]
    # layer 1: A = {1: .25, 2: .25, 3: .5}, B = {2: .5, 3: .5} -> 0.5 * (.25 + .25 + 0) = 0.25
    assert diff[1]["distance"] == 0.25
    assert all(d["distance"] == 0 for d in routing.routing_difference(A, A))


def test_rows_and_json_keep_weights_as_given():
    rows = json.loads(routing.to_json(A))["routing"]
    assert rows[0] == {"position": 0, "token": "Hi", "layer": 0, "experts": [0, 1], "weights": [0.9, 0.4]}


def test_looks_moe_reads_config_not_weights(tmp_path):
    moe, dense = tmp_path / "moe", tmp_path / "dense"
    moe.mkdir()
    dense.mkdir()
    (moe / "config.json").write_text(json.dumps({"model_type": "phimoe", "num_local_experts": 16}))
    (dense / "config.json").write_text(json.dumps({"model_type": "phi3"}))
    assert routing.looks_moe(str(moe)) and not routing.looks_moe(str(dense))
    assert routing.looks_moe("microsoft/Phi-3.5-MoE-instruct") and not routing.looks_moe("smollm2-135m-instruct")


# ---- statistics against hand-computed cases --------------------------------------------------

from services.reasoning import routing_stats  # noqa: E402


def _ev(token, layer, experts, position, n=4, shared=()):
    return Routing(token, layer, tuple(experts), tuple(1.0 / len(experts) for _ in experts), position, shared, n)


def test_entropy_and_balance_by_hand():
    # layer 0: loads over 4 experts = [2, 1, 1, 0] -> p = .5 .25 .25 -> H = 1.5 bits, norm 1.5 / 2 = .75
    # mean 1, population std sqrt((1 + 0 + 0 + 1) / 4) = sqrt(.5) -> CV = .7071
    # layer 1: loads [1, 1, 1, 1] -> H = 2 bits (norm 1), CV 0
    events = [_ev("a", 0, (0, 1), 0), _ev("b", 0, (0, 2), 1), _ev("a", 1, (0, 1), 0), _ev("b", 1, (2, 3), 1)]
    s = {x["layer"]: x for x in routing_stats.layer_stats(events)}
    assert s[0]["entropy_bits"] == 1.5 and s[0]["entropy_norm"] == 0.75 and s[0]["load_cv"] == 0.7071
    assert s[0]["experts_used"] == 3 and s[0]["n_experts"] == 4 and s[0]["busiest_expert"] == 0
    assert s[0]["busiest_share"] == 0.5 and s[0]["tokens"] == 2
    assert s[1]["entropy_bits"] == 2.0 and s[1]["entropy_norm"] == 1.0 and s[1]["load_cv"] == 0.0
    summary = routing_stats.summary(events)
    assert summary["mean_entropy_norm"] == 0.875 and summary["mean_load_cv"] == 0.3536
    assert summary["records"] == 4 and summary["positions"] == 2


def test_one_expert_takes_everything():
    events = [_ev(t, 0, (3,), i, n=8) for i, t in enumerate("abc")]
    (s,) = routing_stats.layer_stats(events)
    # loads [0]*7 + [3]: H = 0; mean 3/8, std sqrt(7 * (3/8)^2 + (21/8)^2) / sqrt(8) -> CV = sqrt(7) = 2.6458
    assert s["entropy_bits"] == 0.0 and s["entropy_norm"] == 0.0 and s["load_cv"] == 2.6458


def test_expert_count_falls_back_to_the_highest_seen():
    old = [Routing("x", 0, (0, 5), (0.5, 0.5), 0)]  # records without n_experts (older exports)
    assert routing_stats.layer_stats(old)[0]["n_experts"] == 6


def test_specialisation_lists_each_experts_top_tokens():
    events = [_ev("the", 0, (1, 2), 0), _ev("cat", 0, (1, 3), 1), _ev("the", 0, (1, 2), 2),
              _ev("sat", 0, (0, 2), 3), _ev("the", 1, (1, 0), 0)]
    spec = {(x["layer"], x["expert"]): x for x in routing_stats.specialisation(events, top=2)}
    assert spec[(0, 1)]["load"] == 3 and spec[(0, 1)]["top_tokens"] == [{"token": "the", "count": 2},
                                                                      {"token": "cat", "count": 1}]
    assert spec[(0, 2)]["top_tokens"] == [{"token": "the", "count": 2}, {"token": "sat", "count": 1}]
    assert spec[(1, 0)]["top_tokens"] == [{"token": "the", "count": 1}]
    assert len(routing_stats.specialisation(events * 50, top=2)[0]["top_tokens"]) <= 2  # bounded


def test_shared_experts_are_counted_apart_and_exported():
    events = [_ev("a", 0, (0, 1), 0, shared=(0.25,)), _ev("b", 0, (2, 3), 1, shared=(0.75,))]
    (s,) = routing_stats.layer_stats(events)
    assert s["shared_experts"] == 1 and s["experts_used"] == 4  # shared ones are not in the routed load
    rows = json.loads(routing.to_json(events))["routing"]
    assert rows[0]["shared"] == [0.25] and "shared" not in json.loads(routing.to_json(A))["routing"][0]
    assert routing.to_csv(events).splitlines()[1].endswith(",0.25")
    assert routing.stats_csv(events).splitlines()[0].startswith("layer,tokens,n_experts,experts_used,entropy_bits")


# ---- which targets count as a mixture of experts ---------------------------------------------

def test_mixture_targets_are_cloud_endpoints_by_name_and_local_folders_by_routers(tmp_path):
    from services.backends import get_backend
    from services.targets import list_targets
    from services.types import TargetInfo

    infos = {i.target: i for i in list_targets()}
    assert routing.is_moe(infos["github:microsoft/phi-3.5-moe-instruct"])
    assert routing.is_moe(infos["azure:Phi-3.5-MoE-instruct"])
    assert not routing.is_moe(infos["onnx:smollm2-135m-instruct"])
    # a local folder whose name says nothing: its config's routers decide
    routed, dense = tmp_path / "router-model", tmp_path / "plain-model"
    routed.mkdir()
    dense.mkdir()
    (routed / "config.json").write_text(json.dumps({"model_type": "phimoe", "num_local_experts": 16}))
    (dense / "config.json").write_text(json.dumps({"model_type": "phi3"}))
    assert "moe" not in str(tmp_path).lower()
    backend = get_backend("transformers")
    assert routing.is_moe(TargetInfo(f"transformers:{routed}", True, capabilities=backend.capabilities(str(routed))))
    assert not routing.is_moe(TargetInfo(f"transformers:{dense}", True, capabilities=backend.capabilities(str(dense))))


def test_family_reason_names_a_local_family_that_cannot_be_routed(tmp_path):
    from services.types import Target

    switch = tmp_path / "switch"
    switch.mkdir()
    (switch / "config.json").write_text(json.dumps({"model_type": "switch_transformers", "num_experts": 8}))
    assert "Routing is not available for switch_transformers" in routing.family_reason(
        Target("transformers", str(switch)))
    assert routing.family_reason(Target.parse("onnx:smollm2-135m-instruct")) is None
    assert routing.family_reason(Target.parse("github:microsoft/phi-3.5-moe-instruct")) is None
