"""Speed x quality: every local runtime (and, on request, every ONNX build recipe) in its own process.

Quality is measured against the fp32 transformers copy of the embedded weights (the GGUF dequantized):
top-1 agreement and KL divergence per token on the bundled text set (teacher forced), and the bundled
short instructions answered through the real services at the app's default parameters.
Run alone: `python -m bench.quality [--quick] [--recipes]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.models import embedded

ROOT = Path(__file__).resolve().parents[1]
EMB = embedded.EMBEDDED_MODEL
# the ONNX recipes measured against the default (docs/performance.md "Quality"); each is built in a temp folder
RECIPES = [
    {"precision": "int4", "block_size": 32, "accuracy_level": 4},
    {"precision": "int4", "block_size": 128, "accuracy_level": 4},
    {"precision": "int4", "block_size": 32, "accuracy_level": 4, "algo_config": "rtn",
     "matmul_mixed_precision": "last_matmul:int8"},
    {"precision": "int4", "block_size": 32, "accuracy_level": 4, "algo_config": "k_quant"},
    {"precision": "int4", "block_size": 32, "accuracy_level": 4, "algo_config": "k_quant_mixed"},
    {"precision": "int8", "block_size": 128, "accuracy_level": 4},
    {"precision": "int8", "block_size": 32, "accuracy_level": 1},
    {"precision": "fp32", "block_size": 32, "accuracy_level": 4},
]
QUICK = {"speed_runs": 2, "speed_n": 64, "answer_limit": 10}
FULL = {"speed_runs": 3, "speed_n": 128, "answer_limit": None}
CHILD_TIMEOUT_S = 3600


def _label(recipe: dict) -> str:
    extra = {k: v for k, v in recipe.items() if k not in ("precision", "block_size", "accuracy_level")}
    name = "fp32" if recipe["precision"] == "fp32" else embedded.recipe_name(recipe)
    return name + "".join(f" {k}={v}" for k, v in sorted(extra.items()))


def _child(spec: dict) -> dict:
    """Run bench.quality_child in a fresh process; its last stdout line is the JSON result."""
    proc = subprocess.run([sys.executable, "-m", "bench.quality_child", json.dumps(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"name": spec.get("name", "reference"), "error": tail[0][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_recipe(recipe: dict, into: Path) -> Path:
    """Build one recipe with the same builder command as the app's cache, in a folder of our own."""
    out, work = into / _label(recipe).replace(" ", "_").replace("=", "-").replace(":", "-"), into / "work"
    cmd = embedded.builder_command(embedded.ensure_hf(), out, work, recipe)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(" | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:]))
    return out


def variants(recipes_dir: Path | None) -> list[dict]:
    """The three local targets of the embedded model, then each extra recipe built into recipes_dir."""
    name = embedded.recipe_name()
    out = [
        {"name": f"ONNX {name}", "runtime": "onnx", "path": str(embedded.ensure_onnx()),
         "target": f"onnx:{EMB}"},
        {"name": "llama.cpp Q4_1 (GGUF in the wheel)", "runtime": "llamacpp", "path": str(embedded.gguf_path()),
         "target": f"llamacpp:{EMB}"},
        {"name": "transformers fp32 (the reference)", "runtime": "transformers", "path": str(embedded.ensure_hf()),
         "target": f"transformers:{EMB}"},
    ]
    if recipes_dir is not None:
        for recipe in RECIPES:
            if embedded.recipe_name(recipe) == name and len(recipe) == 3:
                continue  # the default is already the first row
            try:
                folder = build_recipe(recipe, recipes_dir)
            except RuntimeError as exc:
                out.append({"name": f"ONNX {_label(recipe)}", "error": f"build failed: {exc}"[:300]})
                continue
            out.append({"name": f"ONNX {_label(recipe)}", "runtime": "onnx", "path": str(folder),
                        "target": f"onnx:{folder}"})
    return out


def run(quick: bool = True, recipes: bool = False, progress=lambda s: print(s, file=sys.stderr)) -> dict:
    """Every variant in its own process, one after another; loads before and after, and per child."""
    cfg = QUICK if quick else FULL
    started = time.perf_counter()
    result = {"load_before": round(os.getloadavg()[0], 2), "cores": len(os.sched_getaffinity(0)),
              "mode": "quick" if quick else "full", "rows": []}
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        work = Path(tmp)
        progress("quality: fp32 reference logits")
        ref = _child({"mode": "reference", "hf": str(embedded.ensure_hf()), "work": str(work)})
        if "error" in ref:
            result["error"] = f"reference failed: {ref['error']}"
            return result
        recipes_dir = work / "recipes" if recipes else None
        if recipes_dir is not None:
            recipes_dir.mkdir()
        for v in variants(recipes_dir):
            if "error" in v:
                result["rows"].append(v)
                continue
            progress(f"quality: {v['name']}")
            load = os.getloadavg()[0]
            row = _child({**v, **cfg, "work": str(work)})
            row["name"], row["load"] = v["name"], round(load, 2)
            result["rows"].append(row)
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _num(x, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    """The speed x quality table, one row per runtime or recipe."""
    lines = [f"Speed x quality ({result.get('mode')}): {result.get('cores')} cores, load average "
             f"{result.get('load_before')} before / {result.get('load_after')} after, {result.get('seconds')} s. "
             "Each row in its own process; decode is the plain greedy loop (median, min-max); agreement is "
             "teacher forced against the fp32 copy of the same weights; answers at the app's defaults.",
             "", "| Runtime / recipe | Decode tok/s (min-max) | Top-1 agree | Mean KL | p99 KL | Answers passed "
             "| Hit limit (looping) | Load |", "|---|---|---|---|---|---|---|---|"]
    if result.get("error"):
        lines.append(f"| {result['error']} |  |  |  |  |  |  |  |")
    for r in result.get("rows", []):
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error']} |  |  |  |  |  |  |")
            continue
        a = r.get("answers") or {}
        speed = (f"{_num(r.get('decode_tps'), 1)} ({_num(r.get('decode_min'), 1)}-{_num(r.get('decode_max'), 1)})"
                 if r.get("decode_tps") is not None else "-")
        kl = "0 (reference)" if r.get("reference") else _num(r.get("kl_mean"), 4)
        lines.append(f"| {r['name']} | {speed} | {_num(r.get('top1'), 3)} | {kl} | {_num(r.get('kl_p99'), 4)} | "
                     f"{a.get('passed', '-')}/{a.get('n', '-')} | {a.get('hit_limit', '-')} ({a.get('looped', '-')}) "
                     f"| {r.get('load', '-')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 decode runs of 64 tokens, 10 instructions")
    p.add_argument("--recipes", action="store_true", help="also build and measure every recipe in RECIPES")
    p.add_argument("--json", metavar="FILE", help="write the full result (answers included) here")
    args = p.parse_args(argv)
    result = run(quick=args.quick, recipes=args.recipes)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    sys.stdout.write(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
