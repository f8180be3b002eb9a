"""`python -m bench phi`: build Phi-shaped variants, measure each in its own process, print the table."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from bench import harness
from bench.phi import builds, configs, derive, measure, report
from services.models import bandwidth

FORMATS = {"llamacpp": ["Q4_0", "Q4_K_M", "Q8_0"], "onnx": ["int4", "int4-b128"], "transformers": ["bf16"]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench phi", description=(
        "Seeded random-weight Phi-3/3.5 models at their published shapes, converted with the users' tools "
        "(onnxruntime-genai's builder, llama.cpp's convert_hf_to_gguf.py and quantize) and measured per runtime."))
    p.add_argument("--models", nargs="+", default=list(configs.CONFIGS), choices=list(configs.CONFIGS))
    p.add_argument("--layers", nargs="+", default=[], metavar="N|MODEL=N",
                   help="depth to build (default: published depth; the MoE 2 layers)")
    p.add_argument("--slope-layers", nargs=2, type=int, default=[4, 8], metavar=("A", "B"),
                   help="depths for what cannot run at full depth here (ONNX build memory, transformers bf16 time): "
                        "the full-depth row is derived from their per-layer slope")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--prefill", nargs="+", type=int, default=[128, 1000, 4000], help="prompt lengths (tokens)")
    p.add_argument("--decode", type=int, default=128, help="tokens decoded after the first prompt, EOS ignored")
    p.add_argument("--only", nargs="+", default=[], metavar="NAME",
                   help="only variants whose name contains one of these (e.g. llamacpp:Q4_0 phi3-mini)")
    p.add_argument("--quick", action="store_true",
                   help="CI: Phi-3-mini only, 1 layer, one format per runtime, 1 round, short prompts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=1500, help="seconds one measuring process may take")
    p.add_argument("--json", metavar="FILE", help="write the full report here (default: bench-phi.json)")
    p.add_argument("--build-only", action="store_true", help="build (and cache) the variants, measure nothing")
    p.add_argument("--write-measured", action="store_true",
                   help="write services/models/measured.toml (needs the Phi-3-mini full-depth rows)")
    return p


def depths(args) -> dict[str, int]:
    out = {m: configs.DEFAULT_LAYERS[m] for m in configs.CONFIGS}
    for item in args.layers:
        if "=" in item:
            model, n = item.split("=", 1)
            out[model] = int(n)
        else:
            out = {m: int(item) for m in out}
    return out


def variants(args) -> list[builds.Variant]:
    """What to build and run: the full depth where it fits, the slope depths where it does not."""
    if args.quick:
        return [builds.Variant("phi3-mini", depths(args)["phi3-mini"] if args.layers else 1, rt, FORMATS[rt][0])
                for rt in FORMATS]
    out = []
    for model in args.models:
        depth = depths(args)[model]
        shallow = [n for n in args.slope_layers if n < depth]
        out += [builds.Variant(model, depth, "llamacpp", f) for f in FORMATS["llamacpp"]]
        onnx_depths = [depth] if builds.onnx_fits(model, depth)[0] else shallow
        out += [builds.Variant(model, n, "onnx", f) for n in onnx_depths for f in FORMATS["onnx"]]
        if onnx_depths != [depth] and model == derive.REFERENCE:
            # the same slope on llama.cpp, whose full depth is measured too: the check of the method
            out += [builds.Variant(model, n, "llamacpp", "Q4_0") for n in shallow]
        tf_depths = shallow if len(shallow) == 2 and configs.config(model, depth)["num_hidden_layers"] > 8 else [depth]
        out += [builds.Variant(model, n, "transformers", "bf16") for n in tf_depths]
    if args.only:
        out = [v for v in out if any(s in v.name for s in args.only)]
    return out


def progress(s: str) -> None:
    print(f"[bench phi] {s}", file=sys.stderr, flush=True)


def run(args) -> dict:
    started = time.time()
    prefill = [32] if args.quick and args.prefill == [128, 1000, 4000] else args.prefill
    decode = 16 if args.quick and args.decode == 128 else args.decode
    rounds = 1 if args.quick else args.rounds
    load_before = harness.load_average()
    progress("measuring read bandwidth")
    gbs = bandwidth.read_bandwidth_gbs()
    specs, files, notes = {}, {}, []
    for v in variants(args):
        try:
            files[v] = builds.path(v, args.seed, progress)
        except (RuntimeError, MemoryError) as exc:
            notes.append(f"{v.name} not built: {str(exc).strip().splitlines()[-1][:300]}")
            progress(notes[-1])
            continue
        specs[v.name] = {"name": v.name, "runtime": v.runtime, "path": str(files[v]), "prompts": prefill,
                         "decode": decode, "seed": args.seed}
    if args.build_only:
        return {"built": {v.name: str(p) for v, p in files.items()}, "notes": notes}
    samples = measure.run_rounds(specs, rounds, args.timeout, progress)
    gbs = max(gbs, bandwidth.read_bandwidth_gbs())
    rows = [measure.row(v, files[v], samples[v.name], gbs) for v in files]
    full = depths(args)[derive.REFERENCE]
    rows += derive.slope_rows(rows, full, gbs)
    effs = derive.efficiencies(rows, full)
    command = "python -m bench phi " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["phi"] else sys.argv[1:])
    rep = {
        "machine": {"cpu": report.cpu_name(), "bandwidth_gbs": gbs, "load_before": load_before,
                    "load_after": harness.load_average(), "rounds": rounds, "seconds": time.time() - started,
                    "command": command.strip()},
        "rows": rows, "efficiency": effs, "predictions": derive.predictions(rows, effs),
        "ratios": derive.ratio_rows(rows, "onnx:int4", "llamacpp:Q4_0")
        + derive.ratio_rows(rows, "onnx:int4-b128", "llamacpp:Q4_0"),
        "notes": notes,
    }
    return rep


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rep = run(args)
    if args.build_only:
        print(json.dumps(rep, indent=2))
        return 0
    out = Path(args.json or "bench-phi.json")
    out.write_text(json.dumps(harness._clean(rep), indent=2))
    sys.stdout.write(report.markdown(rep))
    progress(f"JSON written to {out}")
    if args.write_measured:
        full = depths(args)[derive.REFERENCE]
        if not any(f" L{full} llamacpp" in e["from"] for e in rep["efficiency"].values()):
            progress("measured.toml not written: no full-depth Phi-3-mini row was measured")
            return 1
        progress(f"wrote {report.write_measured(rep)}")
    return 0
