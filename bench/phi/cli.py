"""`python -m bench phi`: build Phi-shaped variants, measure each in its own process, print the table."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from bench import harness
from bench.phi import builds, configs, derive, measure, report
from services.models import bandwidth

# prompts above 1,000 tokens run only on the reference model up to this depth (deeper rows get them from the
# slope) and never on transformers: a 4,000-token prefill at full depth takes minutes per process on 2 cores
LONG_PROMPT = 1000
LONG_PROMPT_MAX_LAYERS = 8
# the models other than Phi-3-mini, there to check the predictions: one or two formats per runtime
CHECK_FORMATS = {"phi35-mini": {"llamacpp": ["Q4_0"], "onnx": ["int4"], "transformers": []},
                 "phi35-moe": {"llamacpp": ["Q4_0"], "onnx": [], "transformers": ["bf16"]}}
# the headline pair: only they get the prompts over 1,000 tokens
LONG_KEYS = {"onnx:int4", "llamacpp:Q4_0"}
FORMATS = {"llamacpp": ["Q4_0", "Q4_K_M", "Q8_0"], "onnx": ["int4", "int4-b128"], "transformers": ["bf16"]}


def build_parser() -> argparse.ArgumentParser:
    """The flags of `python -m bench phi`."""
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
    p.add_argument("--deep-prefill", type=int, default=1000, metavar="N",
                   help="longest prompt for rows deeper than 8 layers and for the other models (default 1000)")
    p.add_argument("--long-rounds", type=int, default=0, metavar="R",
                   help="run prompts over 1,000 tokens only in the first R rounds (0: every round)")
    p.add_argument("--report-from", metavar="SAMPLES",
                   help="print the report from a run's saved .samples.jsonl (same flags), measuring nothing")
    p.add_argument("--levers", action="store_true", help="also llama.cpp Q4_0 with the file read instead of mapped")
    p.add_argument("--build-only", action="store_true", help="build (and cache) the variants, measure nothing")
    p.add_argument("--write-measured", action="store_true",
                   help="write services/models/measured.toml (needs the Phi-3-mini full-depth rows)")
    return p


def depths(args) -> dict[str, int]:
    """Each model's depth: its default, or --layers N for all, or --layers MODEL=N for one."""
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
    if args.quick:  # one format per runtime
        return [builds.Variant("phi3-mini", depths(args)["phi3-mini"] if args.layers else 1, rt, FORMATS[rt][0])
                for rt in FORMATS]
    out = []
    for model in args.models:
        depth = depths(args)[model]
        shallow = [n for n in args.slope_layers if n < depth]
        formats = FORMATS if model == derive.REFERENCE else CHECK_FORMATS[model]
        out += [builds.Variant(model, depth, "llamacpp", f) for f in formats["llamacpp"]]
        onnx_depths = [depth] if builds.onnx_fits(model, depth)[0] else shallow
        if not configs.is_moe(configs.config(model)):  # the builder's MoE is CUDA-only
            out += [builds.Variant(model, n, "onnx", f) for n in onnx_depths for f in formats["onnx"]]
        if model == derive.REFERENCE and args.levers:
            out.append(builds.Variant(model, depth, "llamacpp-nommap", "Q4_0"))
        if onnx_depths != [depth] and model == derive.REFERENCE:
            # the same slope on llama.cpp, whose full depth is measured too: the check of the method
            out += [builds.Variant(model, n, "llamacpp", "Q4_0") for n in shallow]
        tf_depths = shallow if len(shallow) == 2 and configs.config(model, depth)["num_hidden_layers"] > 8 else [depth]
        out += [builds.Variant(model, n, "transformers", f) for n in tf_depths for f in formats["transformers"]]
    if args.only:
        out = [v for v in out if any(s in v.name for s in args.only)]
    return out


def progress(s: str) -> None:
    """A progress line on stderr."""
    print(f"[bench phi] {s}", file=sys.stderr, flush=True)


def specs_for(args, prefill: list[int], decode: int, progress) -> tuple[dict, dict, list[str]]:
    """Build every variant; the child spec of each that built, its files, and notes on those that did not."""
    specs, files, notes = {}, {}, []
    for v in variants(args):
        try:
            files[v] = builds.path(v, args.seed, progress)
        except (RuntimeError, MemoryError) as exc:
            notes.append(f"{v.name} not built: {str(exc).strip().splitlines()[-1][:300]}")
            progress(notes[-1])
            continue
        # long prompts: the headline pair of the reference model at shallow depth only (deeper rows get
        # them from the slope)
        deep = v.layers > LONG_PROMPT_MAX_LAYERS or v.model != derive.REFERENCE
        cap = args.deep_prefill if deep else (max(prefill) if v.key in LONG_KEYS else LONG_PROMPT)
        specs[v.name] = {"name": v.name, "model": v.model, "layers": v.layers, "runtime": v.runtime, "fmt": v.fmt,
                         "path": str(files[v]), "prompts": [n for n in prefill if n <= cap] or prefill[:1],
                         "decode": decode, "seed": args.seed}
    return specs, files, notes


def run(args) -> dict:
    """Build, measure (or read a saved run) and return the report."""
    started = time.time()
    command = "python -m bench phi " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["phi"] else sys.argv[1:])
    if os.environ.get("LLAMACPP_N_THREADS"):
        command = f"LLAMACPP_N_THREADS={os.environ['LLAMACPP_N_THREADS']} {command}"
    prefill = [32] if args.quick and args.prefill == [128, 1000, 4000] else args.prefill
    decode = 16 if args.quick and args.decode == 128 else args.decode
    rounds = 1 if args.quick else args.rounds
    load_before = harness.load_average()
    if args.report_from:
        saved = [json.loads(x) for x in Path(args.report_from).read_text().splitlines() if x.strip()]
        head, records = saved[0], [x for x in saved[1:] if "spec" in x]
        end = next((x["end"] for x in saved if "end" in x), {})
        gbs, rounds, started, load_before = head["bandwidth_gbs"], head["rounds"], head["started"], head["load_before"]
        samples, files = {}, {}
        for rec in records:
            spec = rec["spec"]
            v = builds.Variant(spec["model"], spec["layers"], spec["runtime"], spec["fmt"])
            files[v] = Path(spec["path"])
            samples.setdefault(v.name, []).append(rec["result"])
        notes = head.get("notes", [])
        command = head.get("command", command)
        # the run's own end: its last process's start and load, not the time of this report
        ended = end.get("ended")
        load_after = end.get("load_after", records[-1]["result"].get("load") if records else None)
        gbs = end.get("bandwidth_gbs", gbs)  # the better of before and after, as the run itself used
    else:
        progress("measuring read bandwidth")
        gbs = bandwidth.read_bandwidth_gbs()
        specs, files, notes = specs_for(args, prefill, decode, progress)
        if args.build_only:
            return {"built": {v.name: str(p) for v, p in files.items()}, "notes": notes}
        log = Path(args.json or "bench-phi.json").with_suffix(".samples.jsonl")
        log.write_text(json.dumps({"bandwidth_gbs": gbs, "rounds": rounds, "started": started,
                                   "load_before": load_before, "notes": notes, "command": command}) + "\n")
        samples = measure.run_rounds(specs, rounds, args.timeout, progress, log, args.long_rounds)
        gbs = max(gbs, bandwidth.read_bandwidth_gbs())
        ended, load_after = time.time(), harness.load_average()
        with log.open("a") as fh:
            fh.write(json.dumps({"end": {"bandwidth_gbs": gbs, "ended": ended, "load_after": load_after}}) + "\n")
    rows = [measure.row(v, files[v], samples[v.name], gbs) for v in files if v.name in samples]
    full = depths(args)[derive.REFERENCE]
    rows += derive.slope_rows(rows, full, gbs)
    effs = derive.efficiencies(rows, full)
    return {
        "machine": {"cpu": report.cpu_name(), "bandwidth_gbs": gbs, "load_before": load_before,
                    "load_after": load_after, "rounds": rounds,
                    "seconds": (ended - started) if ended else float("nan"),
                    "command": command.strip()},
        "rows": rows, "efficiency": effs, "predictions": derive.predictions(rows, effs),
        "ratios": derive.ratio_rows(rows, "onnx:int4", "llamacpp:Q4_0")
        + derive.ratio_rows(rows, "onnx:int4-b128", "llamacpp:Q4_0")
        + derive.ratio_rows(rows, "onnx:int4-b128", "onnx:int4")
        + derive.ratio_rows(rows, "llamacpp:Q4_K_M", "llamacpp:Q4_0"),
        "slope_checks": derive.slope_checks(rows), "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench phi`: the tables to stdout, the JSON to --json."""
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
