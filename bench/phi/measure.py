"""Each variant in its own fresh process, interleaved round by round, and the figures of every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import harness
from bench.phi import builds, configs
from services.models import bandwidth, weight_bytes

ROOT = Path(__file__).resolve().parents[2]
# KV cache element bytes as each runtime keeps it on CPU: llama.cpp f16 by default; the ONNX builder's
# int4 CPU models take and return fp32 past key/values; transformers keeps the checkpoint's bf16
KV_BYTES = {"llamacpp": 2, "llamacpp-nommap": 2, "onnx": 4, "transformers": 2}


def spawn(spec: dict, timeout: float) -> dict:
    """One child (bench/phi/child.py); the last JSON line it printed, even when it was cut short."""
    load = harness.load_average()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.phi.child", json.dumps(spec)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        stdout, err, rc = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err, rc = f"cut at the {timeout:.0f} s limit", "timeout"
    lines = [x for x in stdout.splitlines() if x.startswith("{")]
    if not lines:
        tail = (err or stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:300], "load": load}
    res = json.loads(lines[-1])
    if rc != 0:
        res["cut_short"] = str(err).strip().splitlines()[-1][:200] if err else str(rc)
    res["load"] = load
    return res


def run_rounds(specs: dict[str, dict], rounds: int, timeout: float, progress, log: Path | None = None,
               long_rounds: int = 0) -> dict[str, list[dict]]:
    """A B C ... A B C ...: one process per variant per round, so a load change hits every variant alike.
    Each result is appended to `log` as it comes; prompts over 1,000 tokens only in the first long_rounds."""
    done: dict[str, int] = {}

    def one(spec: dict) -> dict:
        r = done.get(spec["name"], 0)
        done[spec["name"]] = r + 1
        if long_rounds and r >= long_rounds:
            spec = {**spec, "prompts": [n for n in spec["prompts"] if n <= 1000]}
        progress(f"round {r + 1}: {spec['name']} (prompts {spec['prompts']})")
        res = spawn(spec, timeout)
        if log:
            with log.open("a") as fh:
                fh.write(json.dumps({"spec": spec, "result": {**res, "round": r}}) + "\n")
        if "error" in res:
            progress(f"  {spec['name']} failed: {res['error']}")
        else:
            progress(f"  decode {res['decode_tps']:.2f} tok/s, load {res['load']}")
        return res

    return harness.interleave_processes(specs, rounds, one)


def row(v: builds.Variant, files: Path, samples: list[dict], gbs: float) -> dict:
    """The figures of one variant over its processes: spreads, bytes per token, bound, memory."""
    ok = [s for s in samples if "error" not in s]
    wb = weight_bytes.of(files)
    cfg = configs.config(v.model, v.layers)
    bound = bandwidth.bound_tokens_per_s(wb.per_token, gbs)
    decode = harness.spread([s.get("decode_tps") for s in ok])
    prefill = {}
    for n in sorted({int(k) for s in ok for k in s.get("prefill", {})}):
        got = [s["prefill"][str(n)] for s in ok if str(n) in s.get("prefill", {})]
        prefill[str(n)] = {"ttft_s": harness.spread([g["ttft_s"] for g in got]),
                           "tps": harness.spread([g["tps"] for g in got])}
    ctx = max((s.get("ctx", 0) for s in ok), default=0)
    kv = configs.kv_bytes_per_token(cfg, KV_BYTES[v.runtime]) * ctx
    hwm = harness.spread([s.get("hwm_mb") for s in ok])
    out = {
        "name": v.name, "model": v.model, "layers": v.layers, "key": v.key, "path": str(files),
        "file_mb": wb.file_bytes / 1e6, "per_token_mb": wb.per_token / 1e6, "active_fraction": wb.active_fraction,
        "decode_tps": decode, "decode_mean_tps": harness.spread([s.get("decode_mean_tps") for s in ok]),
        "per_round_decode": {s["round"]: s["decode_tps"] for s in ok},
        "prefill": prefill, "load_s": harness.spread([s.get("load_s") for s in ok]),
        "rss_load_mb": harness.spread([s.get("rss_load_mb") for s in ok]), "hwm_mb": hwm, "ctx": ctx,
        "rss_anon_mb": harness.spread([s.get("rss_anon_mb") for s in ok]),
        "rss_file_mb": harness.spread([s.get("rss_file_mb") for s in ok]),
        "threads": sorted({s.get("threads") for s in ok if s.get("threads")}),
        "kv_mb": kv / 1e6, "bound_tps": bound, "processes": len(ok), "loads": [s.get("load") for s in samples],
        "errors": [s["error"] for s in samples if "error" in s], "derived": None,
    }
    out["fraction_of_bound"] = decode[1] / bound if decode else None
    out["memory_ratio"] = hwm[1] / (out["file_mb"] + out["kv_mb"]) if hwm else None
    return out
