"""The Phi bench's arithmetic: full depth from the per-layer slope, predictions, ratios, bytes per token."""

from __future__ import annotations

import json
import struct

import pytest

from bench.phi import configs, derive, hf
from services.models import weight_bytes


def _row(layers: int, per_round: dict[int, float], key: str = "onnx:int4", model: str = "phi3-mini") -> dict:
    tps = sorted(per_round.values())
    return {"name": f"{model} L{layers} {key}", "model": model, "layers": layers, "key": key,
            "per_round_decode": per_round, "decode_tps": [tps[0], tps[len(tps) // 2], tps[-1]],
            "prefill": {"128": {"ttft_s": [0.1 * layers] * 3, "tps": [1280 / layers] * 3}},
            "per_token_mb": 10.0 + 5.0 * layers, "file_mb": 20.0 + 5.0 * layers, "kv_mb": 1.0 * layers,
            "hwm_mb": [30.0 + 5.0 * layers] * 3, "load_s": [0.1 * layers] * 3, "ctx": 256, "processes": 2,
            "active_fraction": 1.0, "derived": None, "bound_tps": 1000.0 / (10.0 + 5.0 * layers),
            "fraction_of_bound": None}


def test_extrapolation_is_linear_in_seconds_per_token():
    # 0.01 s fixed + 0.005 s per layer: 4 layers 0.03 s, 8 layers 0.05 s, 32 layers 0.17 s
    lo, hi = _row(4, {0: 1 / 0.03, 1: 1 / 0.03}), _row(8, {0: 1 / 0.05, 1: 1 / 0.05})
    full = derive.extrapolate(lo, hi, 32, gbs=1.0)
    assert full["decode_tps"][1] == pytest.approx(1 / 0.17)
    assert full["per_token_mb"] == pytest.approx(10.0 + 5.0 * 32)
    assert full["prefill"]["128"]["ttft_s"][1] == pytest.approx(3.2)
    assert full["name"] == "phi3-mini L32 onnx:int4 (slope)" and "L4 and L8" in full["derived"]


def test_predictions_skip_the_efficiency_source_and_ratios_pair_rounds():
    ref, other = _row(32, {0: 4.0, 1: 6.0}, "llamacpp:Q4_0"), _row(8, {0: 10.0, 1: 12.0}, "llamacpp:Q4_0")
    for r in (ref, other):
        r["fraction_of_bound"] = r["decode_tps"][1] / r["bound_tps"]
    effs = derive.efficiencies([ref, other], 32)
    assert effs["llamacpp:Q4_0"]["from"] == ref["name"]
    preds = derive.predictions([ref, other], effs)
    assert [p["name"] for p in preds] == [other["name"]]
    assert preds[0]["predicted_tps"] == pytest.approx(ref["fraction_of_bound"] * other["bound_tps"])
    onnx = _row(32, {0: 2.0, 1: 4.0})
    ratio = derive.ratio_rows([ref, onnx], "onnx:int4", "llamacpp:Q4_0")[0]
    assert ratio["ratio_spread"] == [0.5, pytest.approx(7 / 12), pytest.approx(2 / 3)]


def test_safetensors_bytes_per_token_count_one_embedding_row_and_active_experts(tmp_path):
    cfg = configs.config("phi35-moe", 1)
    header, offset = {}, 0
    for name, shape in hf.tensor_shapes(cfg).items():
        n = 2
        for s in shape:
            n *= s
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    wb = weight_bytes.safetensors(tmp_path)
    experts = 2 * 16 * 3 * 4096 * 6400
    embedding = 2 * 32064 * 4096
    assert wb.file_bytes == offset and wb.active_fraction == 2 / 16
    assert wb.per_token == pytest.approx(offset - experts + experts / 8 - embedding + embedding / 32064)

