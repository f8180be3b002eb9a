"""Routing views computed from hand-made Routing events (no model): heatmap, load, difference, guess."""

import json

from services import routing
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
