"""`python -m bench phi --quick`: Phi-3-mini at one layer, built with the users' converters, on every runtime.

The built files are cached under ~/.cache/phi-playground/bench-phi (keyed by config, depth and seed), so
a second run only measures; from an empty cache it trains the tokenizer and converts first.
No timing is asserted: only that the table is whole and every runtime decoded. Cost measured here
(2 cores, load 1.3): 83 s from an empty cache (sdist download, tokenizer, converters; 2 GB), 18 s warm.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.models import weight_bytes

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = {"llamacpp:Q4_0", "onnx:int4", "transformers:bf16"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-phi") / "phi.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "phi", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_runtime_decodes_a_positive_figure(quick):
    rep, _ = quick
    rows = {r["key"]: r for r in rep["rows"]}
    assert set(rows) == RUNTIMES, rep.get("notes")
    for key, r in rows.items():
        assert r["model"] == "phi3-mini" and r["layers"] == 1, key
        assert r["decode_tps"] and r["decode_tps"][0] > 0, key
        assert r["prefill"]["32"]["ttft_s"][1] > 0, key
        assert 0 < r["per_token_mb"] < r["file_mb"], key  # the embedding counts one row
        assert r["bound_tps"] > 0 and r["fraction_of_bound"] > 0, key
        assert r["hwm_mb"][1] > 0 and r["kv_mb"] > 0, key


def test_the_table_and_the_report_are_whole(quick):
    rep, stdout = quick
    assert rep["machine"]["bandwidth_gbs"] > 0 and "cores" in rep["machine"]["cpu"]
    for header in ("| Variant | File MB | Read MB/token | Decode tok/s (min-max)", "TTFT s / prefill tok/s at 32",
                   "RSS / (weights + KV)", "onnx:int4 / phi3-mini L1 llamacpp:Q4_0"):
        assert header in stdout
    assert set(rep["efficiency"]) == RUNTIMES


def test_weight_bytes_reads_each_built_format(quick):
    rep, _ = quick
    for r in rep["rows"]:
        wb = weight_bytes.of(Path(r["path"]))
        assert wb.per_token == pytest.approx(r["per_token_mb"] * 1e6)
        assert wb.active_fraction == 1.0
