"""Compare on the embedded model: both runtimes answer with metrics, a broken target fails alone, runs re-run."""

import json

import pytest

from services.compare import runfile
from services.compare.run import CompareSpec, run_compare
from services.types import GenerationParams

pytestmark = pytest.mark.integration

ONNX = "onnx:smollm2-135m-instruct"
HF = "transformers:smollm2-135m-instruct"
MISSING = "transformers:/nonexistent/folder"
PROMPT = "What is the capital of France?"
GREEDY = GenerationParams(temperature=0, max_tokens=12)


@pytest.fixture(scope="module")
def finished(embedded_paths):
    """One run shared by the tests below: ONNX, a target that cannot load, transformers."""
    return run_compare(CompareSpec.build(PROMPT, [ONNX, MISSING, HF], GREEDY))


def test_both_runtimes_answer_with_metrics(finished):
    onnx, _, hf = finished.results
    for r in (onnx, hf):
        assert r.ok, r.error
        assert "Paris" in r.text
        m = r.metrics
        assert m["ttft_s"] > 0 and m["total_s"] >= m["ttft_s"]
        assert m["decode_tokens_per_s"] > 0
        assert m["prompt_tokens"] > 0 and 0 < m["completion_tokens"] <= 12
        assert r.finish_reason in ("stop", "length")
        # two local targets ran one after another, and the result says so
        assert r.mode == "sequential" and r.local


def test_unavailable_target_is_an_error_entry_and_the_others_complete(finished):
    broken = finished.results[1]
    assert broken.status == "error" and broken.text == ""
    assert "/nonexistent/folder" in broken.error and "Traceback" not in broken.error
    assert [r.to_json().keys() for r in finished.results] == [
        {"target", "text", "metrics", "schema_valid"}, {"target", "error"}, {"target", "text", "metrics", "schema_valid"}]


def test_export_then_rerun_reproduces_the_run(finished, tmp_path):
    text = runfile.dumps(runfile.run_from(finished))
    loaded = runfile.loads(text.encode())
    spec = runfile.spec_from_run(loaded)
    assert spec.prompt == PROMPT
    assert spec.targets == (ONNX, MISSING, HF)
    assert spec.params == (GREEDY,) * 3
    again = runfile.rerun(loaded)
    try:
        again.wait()
    finally:
        again.close()
    # greedy decoding on the same ONNX model gives the same words
    assert again.results[0].text == finished.results[0].text
    assert again.results[1].error == finished.results[1].error


def test_cli_compare_json_export_and_rerun(embedded_paths, tmp_path, capsys):
    from services.__main__ import main

    out_file = tmp_path / "run.json"
    rc = main(["compare", PROMPT, "--target", ONNX, "--target", MISSING, "--temperature", "0",
               "--max-tokens", "8", "--system", "Answer briefly.", "--export", str(out_file), "--json"])
    assert rc == 0
    first = json.loads(capsys.readouterr().out)
    assert [r["target"] for r in first["results"]] == [ONNX, MISSING]
    assert first["results"][0]["text"] and first["results"][0]["metrics"]["completion_tokens"] <= 8
    assert "error" in first["results"][1]
    saved = json.loads(out_file.read_text())
    assert saved["system"] == "Answer briefly."
    assert [t["params"]["max_tokens"] for t in saved["targets"]] == [8, 8]
    assert saved["results"][0]["metrics"]["ttft_s"] > 0

    assert main(["compare", "--rerun", str(out_file), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["results"][0]["text"] == first["results"][0]["text"]
    assert second["results"][1] == first["results"][1]
