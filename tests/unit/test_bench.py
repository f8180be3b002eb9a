"""The benchmark plumbing: interleaving order, medians, ratios, the markdown table and JSON (no model loaded)."""

import json
import math

from bench.harness import Report, Row, interleave, markdown, median, ratio
from services.backends.kv_reuse import MIN_REUSE, LiveState, capacity_for, common_prefix
from services.models.bandwidth import bound_tokens_per_s
from bench.cli import write


def test_interleave_alternates_and_warms_up_once():
    calls = []
    cases = {name: (lambda name=name: calls.append(name) or {"x": len(calls)}) for name in "AB"}
    out = interleave(cases, rounds=3)
    assert calls == ["A", "B"] + ["A", "B"] * 3
    assert [len(v) for v in out.values()] == [3, 3]


def test_median_and_ratio_skip_missing_values():
    samples = [{"t": 3.0}, {"t": None}, {"t": 1.0}, {"t": float("nan")}, {"t": 2.0}]
    assert median(samples, "t") == 2.0
    assert math.isnan(median([{}], "t"))
    assert ratio(3.0, 1.5) == 2.0
    assert math.isnan(ratio(1.0, 0)) and math.isnan(ratio(float("nan"), 1.0))


def test_markdown_and_json_carry_every_row(tmp_path):
    report = Report(machine={"cores": 2, "load_before": 1.5, "load_after": 2.0, "bandwidth_gbs": 10.0,
                             "mode": "quick", "seconds": 3.0})
    report.rows.append(Row("a. overhead", "ONNX service vs raw", "service", 99.0, "raw", 100.0, "tok/s", 0.99,
                           ">= 0.97", True, "same tokens"))
    report.rows.append(Row("b. runtimes", "ONNX vs llama.cpp", "ONNX", 50.0, "llama.cpp", float("nan"), "tok/s",
                           float("nan"), ">= 1.0", None))
    report.runtimes.append({"name": "ONNX", "ttft_s": 0.1, "decode_tps": 50.0, "weights_mb": 90.0,
                            "bound_tps": 110.0, "fraction_of_bound": 0.45})
    report.turns = [{"turn": 1, "onnx TTFT s (reuse)": 0.2}, {"turn": 2, "onnx TTFT s (reuse)": 0.21}]
    out = tmp_path / "r.json"
    text = write(report, out)
    assert "| a. overhead | ONNX service vs raw | service: 99.00 tok/s | raw: 100.00 tok/s | 0.99 | >= 0.97 | yes | same tokens |" in text
    assert "llama.cpp: - tok/s" in text and "| 0.45 |" in text and "load average 1.5" in text
    data = json.loads(out.read_text())  # NaN became null: strict JSON
    assert data["rows"][1]["ratio"] is None and data["rows"][0]["met"] is True
    assert data["turns"][1]["onnx TTFT s (reuse)"] == 0.21


def test_prefix_reuse_rules():
    assert common_prefix([1, 2, 3, 4], [1, 2, 9]) == 2
    prompt = list(range(40))
    live = LiveState(object(), ("greedy",), capacity=100, tokens=prompt)
    # the last two prompt tokens are always fed again
    assert live.reusable(prompt + [50, 51], ("greedy",), 60) == 40
    assert live.reusable(prompt, ("greedy",), 60) == 38
    assert live.reusable(prompt, ("sample",), 60) == 0          # other search options
    assert live.reusable(prompt, ("greedy",), 101) == 0         # would not fit the kept buffers
    assert live.reusable([7] + prompt, ("greedy",), 60) == 0    # nothing shared
    assert live.reusable(prompt[:MIN_REUSE + 1], ("greedy",), 60) == 0  # too little to bother
    assert capacity_for(100, 8192) > 100 and capacity_for(8000, 8192) == 8192


def test_bandwidth_bound():
    assert bound_tokens_per_s(86e6, 29.0) == 29e9 / 86e6


def test_cli_registers_bench_flags():
    from bench.cli import build_parser

    args = build_parser().parse_args(["--quick", "--json", "out.json"])
    assert args.quick and args.json == "out.json"


def test_processes_interleave_by_round_and_ratios_pair_rounds():
    from bench.harness import interleave_processes, round_ratios, spread

    order = []

    def spawn(spec):
        order.append(spec["case"])
        return {"decode_tps": {"A": 10.0, "B": 5.0}[spec["case"]] + len(order)}

    res = interleave_processes({"a": {"case": "A"}, "b": {"case": "B"}}, rounds=3, spawn=spawn)
    assert order == ["A", "B"] * 3  # one fresh process per case per round, A B A B A B
    assert [x["round"] for x in res["a"]] == [0, 1, 2]
    # each round's A is divided by the B that ran next to it: (10+1)/(5+2), (10+3)/(5+4), (10+5)/(5+6)
    assert round_ratios(res["a"], res["b"], "decode_tps") == [11 / 7, 13 / 9, 15 / 11]
    assert spread([3.0, float("nan"), 1.0, None, 2.0]) == [1.0, 2.0, 3.0] and spread([]) is None
    # a failed process drops out of both its own spread and its round's ratio
    res["b"][1] = {"error": "boom", "round": 1}
    assert round_ratios(res["a"], res["b"], "decode_tps") == [11 / 7, 15 / 11]


def test_markdown_shows_process_spread():
    report = Report(machine={"cores": 2})
    report.rows.append(Row("b. runtimes", "ONNX vs llama.cpp", "ONNX", 110.0, "llama.cpp", 100.0, "tok/s", 1.1,
                           ">= 1.2", False, "", [100.0, 110.0, 120.0], [90.0, 100.0, 105.0], [1.0, 1.1, 1.25]))
    text = markdown(report)
    assert "ONNX: 110.00 tok/s (100.00-120.00)" in text and "| 1.10 (1.00-1.25) |" in text and "| NO |" in text


def test_structured_table_pairs_each_constrained_row_with_its_asked_row():
    from bench.bench_structured import table

    def row(target, mode, temp, valid):
        return {"target": target, "mode": mode, "temperature": temp, "answers": 6, "valid": valid,
                "right_city": 1, "cut_off": 0, "mean_tokens": 12.0}

    rows = [row("a:m", "asked", 0.0, 2), row("a:m", "asked", 0.8, 0),
            row("a:m", "constrained", 0.0, 6), row("a:m", "constrained", 0.8, 5)]
    lines = table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[4].endswith("| 3.00x |") and lines[5].endswith("| ∞ |") and lines[2].endswith("| – |")
