"""measured.toml read into predictions, and the fit arithmetic: weights + KV cache, bytes read per token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.__main__ import main
from services.chat import DEFAULT_TARGET
from services.models import embedded, fit, local, measured
from services.models.local import Variant

CPU = "Test CPU 9000, 2 cores"
TOML = f"""
[machine]
bandwidth_gbs = 10.0
cpu = "{CPU}"
date = "2026-12-07"
command = "python -m bench phi --layers 2"
[efficiency]
"llamacpp:Q4_0" = 0.7
"llamacpp:Q4_K_M" = 0.6
"onnx:int4" = 0.5
"transformers:bf16" = 0.3
"""
GB = 1e9


@pytest.fixture()
def toml(tmp_path):
    path = tmp_path / "measured.toml"
    path.write_text(TOML)
    return path


@pytest.fixture(autouse=True)
def no_remeasured(monkeypatch):
    monkeypatch.setattr(measured, "_remeasured", {})


def test_reads_the_file_into_a_frozen_object(toml):
    m = measured.load(toml)
    assert m.bandwidth_gbs == 10.0 and m.cpu == CPU and m.date == "2026-12-07"
    assert m.efficiency_of("llamacpp:Q4_K_M") == 0.6 and m.efficiency_of("llamacpp:Q8_0") is None
    with pytest.raises(Exception):
        m.bandwidth_gbs = 1.0
    with pytest.raises(TypeError):
        m.efficiency["onnx:int4"] = 1.0


def test_prediction_is_efficiency_times_the_bandwidth_bound(toml):
    m = measured.load(toml)
    bw = measured.bandwidth_here(m, here=CPU)
    assert bw.gbs == 10.0 and "measured.toml, 2026-12-07" in bw.source
    p = measured.predict("llamacpp:Q4_K_M", 2 * GB, m, bw)
    # 0.6 x 10 GB/s / 2 GB per token = 3 tokens/s
    assert p.tokens_per_s == pytest.approx(3.0)
    assert p.describe() == "about 3.0 tokens/s" and "0.60 x the 10 GB/s bound" in p.note


def test_a_missing_file_or_key_says_not_measured_and_gives_no_number(tmp_path, toml):
    none = measured.load(tmp_path / "absent.toml")
    assert none is None
    p = measured.predict("onnx:int4", 2 * GB, none, measured.bandwidth_here(none, here=CPU))
    assert p.tokens_per_s is None and p.describe().startswith("not measured on this machine")
    m = measured.load(toml)
    p = measured.predict("llamacpp:Q8_0", 2 * GB, m, measured.bandwidth_here(m, here=CPU))
    assert p.tokens_per_s is None and p.describe() == "not measured on this machine (llamacpp:Q8_0)"


def test_another_machines_bandwidth_is_not_used_until_measured_here(toml, monkeypatch):
    m = measured.load(toml)
    bw = measured.bandwidth_here(m, here="Other CPU, 64 cores")
    assert bw.gbs is None and "another machine" in bw.source and CPU in bw.source
    assert measured.predict("onnx:int4", GB, m, bw).tokens_per_s is None
    monkeypatch.setattr(measured, "read_bandwidth_gbs", lambda: 20.0)
    assert measured.remeasure_bandwidth() == 20.0
    bw = measured.bandwidth_here(m, here="Other CPU, 64 cores")
    assert bw == measured.Bandwidth(20.0, "measured now on this machine")
    # the efficiency still comes from the file: 0.5 x 20 GB/s / 1 GB
    assert measured.predict("onnx:int4", GB, m, bw).tokens_per_s == pytest.approx(10.0)


def test_same_machine_ignores_spacing_case_and_a_longer_cpu_name():
    assert measured.same_machine("AMD EPYC  7B13, 2 cores", "amd epyc 7B13, 2 cores")
    assert measured.same_machine("AMD EPYC 7B13, 2 cores", "AMD EPYC, 2 cores")
    assert not measured.same_machine("Intel Xeon, 2 cores", "AMD EPYC, 2 cores")
    assert not measured.same_machine("AMD EPYC 7B13, 2 cores", "AMD EPYC 7B13, 4 cores")
    assert not measured.same_machine("", "anything")


def test_machine_cpu_names_the_cores():
    assert measured.machine_cpu().endswith(" cores")


def test_default_target_follows_the_default_runtime():
    assert DEFAULT_TARGET == f"{measured.DEFAULT_RUNTIME}:smollm2-135m-instruct"


# ---- fit ------------------------------------------------------------------------------------

PHI3 = fit.SHAPES["phi-3-mini"]


def test_kv_cache_of_phi3_mini_at_4k():
    # 2 (K, V) x 32 layers x 32 heads x 96 x 4096 tokens x 2 bytes (f16) = 1.61 GB
    assert PHI3.kv_bytes(4096, 2) == 2 * 32 * 32 * 96 * 4096 * 2 == 1_610_612_736


def test_bytes_per_token_from_parameters_less_the_embedding(toml):
    m = measured.load(toml)
    bw = measured.bandwidth_here(m, here=CPU)
    f = fit.estimate("llamacpp", "Q4_0", PHI3, measured=m, bandwidth=bw, available=int(20 * GB),
                     budget=int(10 * GB), total=int(23 * GB))
    weights = 3.82e9 * 4.5 / 8
    assert f.weights_bytes == int(weights)
    per_token = int(weights) - 32064 * 3072 * 4.5 / 8
    assert f.prediction.bytes_per_token == pytest.approx(per_token)
    assert f.prediction.tokens_per_s == pytest.approx(0.7 * 10e9 / per_token)
    assert f.need_bytes == int(weights) + PHI3.kv_bytes(4096, 2)
    assert f.verdict == "fits" and "KV cache at 4,096 tokens" in f.text


def test_onnx_int4_bits_follow_the_block_size():
    # 4 bits + an fp32 scale and a 4-bit zero point per block
    assert fit.bits_per_weight("onnx", "int4", "cpu-int4-rtn-block-32-acc-level-4") == pytest.approx(5.125)
    assert fit.bits_per_weight("onnx", "int4", "cpu-int4-awq-block-128-acc-level-4") == pytest.approx(4.28125)
    assert fit.bits_per_weight("llamacpp", "Q8_0") == 8.5
    assert fit.bits_per_weight("llamacpp", "IQ9_Z") is None


def test_moe_reads_only_its_active_parameters():
    moe = fit.SHAPES["phi-3.5-moe"]
    f = fit.estimate("transformers", "bf16", moe, available=int(500 * GB), budget=int(400 * GB), total=int(512 * GB))
    full = f.weights_bytes - moe.embedding_params() * 2
    assert f.prediction.bytes_per_token == pytest.approx(full * 6.6 / 41.9)


@pytest.mark.parametrize("available, budget, total, verdict", [
    (20, 10, 23, "fits"), (20, 2, 23, "alone"), (2, 10, 23, "not now"), (2, 1, 2.5, "too big")])
def test_memory_verdicts(available, budget, total, verdict):
    f = fit.estimate("llamacpp", "Q4_0", PHI3, available=int(available * GB), budget=int(budget * GB),
                     total=int(total * GB))
    assert f.verdict == verdict


def test_a_file_on_disk_counts_its_real_size_converted_to_the_running_dtype():
    # a 16-bit transformers checkpoint of 7.6 GB runs in fp32: 15.2 GB of weights
    f = fit.estimate("transformers", "fp32", PHI3, on_disk=int(7.6 * GB), stored_bits=16.0,
                     available=int(100 * GB), budget=int(50 * GB), total=int(128 * GB))
    assert f.weights_bytes == int(15.2 * GB)
    assert f.kv_bytes == PHI3.kv_bytes(4096, 4)


def test_format_of_a_gguf_file_name():
    assert fit.format_of_file("Phi-3.5-mini-instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert fit.format_of_file("phi-3-mini-q4_0.gguf") == "Q4_0"
    assert fit.format_of_file("Phi-3-mini-4k-instruct-fp16.gguf") == "fp16"
    assert fit.format_of_file("mine.gguf") == ""


def test_transformers_runs_fp32_unless_told_or_only_bf16_fits(monkeypatch):
    monkeypatch.delenv("PHI_TRANSFORMERS_DTYPE", raising=False)
    assert fit.transformers_format("bf16", int(7.7 * GB), int(128 * GB)) == "fp32"
    assert fit.transformers_format("bf16", int(7.7 * GB), int(16 * GB)) == "bf16"
    monkeypatch.setenv("PHI_TRANSFORMERS_DTYPE", "bfloat16")
    assert fit.transformers_format("bf16", int(7.7 * GB), int(128 * GB)) == "bf16"


def test_every_variant_has_a_format_and_a_shape(toml):
    h = fit.Here(measured.load(toml), measured.Bandwidth(10.0, "test"), int(20 * GB), int(10 * GB), int(23 * GB))
    for v in local.variants():
        assert v.format, v.key
        assert fit.shape_for(v.model) is not None, v.key
        f = fit.for_variant(v, h)
        assert f.need_bytes and f.prediction.bytes_per_token, v.key


def test_phi35_mini_q4_k_m_expected_speed(toml):
    v = Variant(model="phi-3.5-mini-instruct", variant="gguf-q4", runtime="gguf", repo="r", format="Q4_K_M")
    h = fit.Here(measured.load(toml), measured.Bandwidth(10.0, "test"), int(20 * GB), int(10 * GB), int(23 * GB))
    f = fit.for_variant(v, h)
    per_token = (3.82e9 - 32064 * 3072) * 4.85 / 8
    assert f.prediction.tokens_per_s == pytest.approx(0.6 * 10e9 / per_token, rel=1e-3)


def test_the_recommended_variant_is_the_fastest_measured_one_that_fits(toml):
    h = fit.Here(measured.load(toml), measured.Bandwidth(10.0, "test"), int(20 * GB), int(10 * GB), int(23 * GB))
    rows = [(v.key, fit.for_variant(v, h)) for v in local.variants()]
    best = fit.recommended(rows)
    # Phi-3.5-mini: llama.cpp Q4_K_M (0.6 x bound at 4.85 bits) beats ONNX int4 block 128 (0.5 x, 4.28 bits)
    assert "phi-3.5-mini-instruct/gguf-q4" in best and "phi-3.5-mini-instruct/onnx-cpu-int4" not in best
    # nothing unmeasured or over the budget is recommended
    assert not any(k.endswith("/safetensors") for k in best if k.startswith("phi-3"))
    h_none = fit.Here(None, measured.Bandwidth(None, "x"), int(20 * GB), int(10 * GB), int(23 * GB))
    assert fit.recommended([(v.key, fit.for_variant(v, h_none)) for v in local.variants()]) == set()


def test_models_list_shows_fit_and_speed_and_says_which_bandwidth(toml, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("PHI_PLAYGROUND_VARIANTS", raising=False)
    toml.write_text(TOML.replace(CPU, measured.machine_cpu()))
    monkeypatch.setenv("PHI_PLAYGROUND_MEASURED", str(toml))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "read bandwidth 10 GB/s (measured.toml, 2026-12-07)" in out
    line = next(x for x in out.splitlines() if "phi-3.5-mini-instruct" in x and "gguf-q4" in x)
    assert " · about " in line and "tokens/s" in line and "fastest that fits here" in line
    assert "not measured on this machine (llamacpp:fp16)" in out
    # from another machine: no speed until the bandwidth is measured here
    toml.write_text(TOML)
    assert main(["models", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["here"]["bandwidth_gbs"] is None and "another machine" in info["here"]["bandwidth_source"]
    assert all(v["fit"]["decode_tokens_per_s"] is None for v in info["variants"])
    monkeypatch.setattr(measured, "read_bandwidth_gbs", lambda: 20.0)
    assert main(["models", "list", "--measure-bandwidth", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["here"]["bandwidth_gbs"] == 20.0 and info["here"]["bandwidth_source"] == "measured now on this machine"


def test_a_malformed_budget_does_not_hide_the_listing(monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", "lots")
    assert fit.here().budget is None


def test_the_format_of_a_gguf_comes_from_its_header():
    assert fit.format_of_gguf(embedded.gguf_path()) == "Q4_1"  # the wheel's GGUF, whatever its name
    assert fit.format_of_gguf(Path(__file__)) == ""


def test_an_unknown_format_says_so(toml):
    m = measured.load(toml)
    p = measured.predict("llamacpp:", GB, m, measured.Bandwidth(10.0, "test"))
    assert p.tokens_per_s is None and p.describe() == "weight format unknown"
