"""`models`: list, download (progress on stderr), delete and add local models."""

from __future__ import annotations

import sys
import time

from services.models import manager as model_manager, measured
from services.cli.common import print_json
from services.models.local import human


def register(sub) -> None:
    p = sub.add_parser("models", help="local models: list, pull, rm, add")
    p.add_argument("--json", action="store_true", help="print the listing as JSON")
    p.add_argument("--measure-bandwidth", action="store_true",
                   help="measure this machine's read bandwidth now (about a second) for the expected speeds, "
                        "instead of the one in measured.toml")
    p.set_defaults(func=run_list)
    verbs = p.add_subparsers(dest="verb")
    listing = verbs.add_parser("list", help="the same listing: installed and downloadable models, with fit and speed")
    listing.add_argument("--json", action="store_true", help="print the listing as JSON")
    listing.add_argument("--measure-bandwidth", action="store_true", help="measure the read bandwidth here first")
    listing.set_defaults(func=run_list)
    pull = verbs.add_parser("pull", help="download a model variant from the Hugging Face hub")
    pull.add_argument("id", help="model id (see `models`), or model/variant")
    pull.add_argument("--variant", help="which build: onnx-cpu-int4, gguf-q4, safetensors, ...")
    pull.set_defaults(func=run_pull)
    rm = verbs.add_parser("rm", help="delete an installed model (added ones: only the link)")
    rm.add_argument("id", help="target (onnx:NAME), a NAME that is unique, or with --partial a model id")
    rm.add_argument("--partial", action="store_true", help="discard an interrupted download of ID [--variant V]")
    rm.add_argument("--variant", help="with --partial: which build")
    rm.set_defaults(func=run_rm)
    add = verbs.add_parser("add", help="add your own ONNX GenAI folder, HF folder or .gguf file")
    add.add_argument("path")
    add.add_argument("--name", help="the name in its target (default: the folder or file name)")
    add.set_defaults(func=run_add)


def _fit_line(fit: dict) -> str:
    """'fits · about 12 tokens/s' with the working behind it on the next line."""
    return f"{VERDICTS.get(fit['verdict'], fit['verdict'])} · {fit['speed']}"


# the memory verdicts of services/models/fit.py in a few words
VERDICTS = {"fits": "fits", "alone": "fits alone (over the budget)", "not now": "not enough free memory now",
            "too big": "too big for this machine", "?": "size unknown"}


def run_list(args) -> int:
    if args.measure_bandwidth:
        print(f"read bandwidth here: {measured.remeasure_bandwidth():g} GB/s", file=sys.stderr)
    info = model_manager.overview()
    if args.json:
        print_json(info)
        return 0
    here = info["here"]
    print(f"models folder: {info['root']}  ({human(info['free_bytes'])} available, {info['free_limit']})")
    bw = f"{here['bandwidth_gbs']:g} GB/s" if here["bandwidth_gbs"] else "unknown"
    print(f"memory: {human(here['available_bytes'])} free of {human(here['memory_bytes'])}, model budget "
          f"{human(here['budget_bytes'])}; read bandwidth {bw} ({here['bandwidth_source']})")
    print(f"fit counts weights + KV cache at {here['context']:,} tokens; expected decode speed = measured "
          "efficiency x bandwidth / weight bytes read per token")
    print("\ninstalled:")
    for m in info["installed"] or []:
        extra = f"-> {m['source'].get('added_from')}" if m["linked"] else human(m["size_bytes"])
        print(f"  {m['target']:45s} {extra}  {_fit_line(m['fit'])}")
    if not info["installed"]:
        print("  (none)")
    print("\ndownloadable (models pull ID --variant V):")
    for v in info["variants"]:
        state = "installed" if v["installed"] else (
            f"partial {human(v['partial_bytes'])}" if v["partial_bytes"] else "")
        fit = v["fit"]
        print(f"  {v['model']:28s} {v['variant']:15s} ~{v['download_gb']:5.1f} GB  "
              f"needs {human(fit['need_bytes']) if fit['need_bytes'] else '?':>8s}  {_fit_line(fit)}  {state}"
              f"{'  * fastest that fits here' if v['recommended'] else ''}")
    if info["ollama"]:
        print("\nOllama:")
        for o in info["ollama"]:
            print(f"  {o['target']}")
    return 0


class _Printer:
    """Progress lines on stderr, at most about one a second."""

    def __init__(self):
        self.last = 0.0

    def __call__(self, ev) -> None:
        if ev.stage == "failed":
            return  # the error itself is printed once, by the CLI's error handler
        now = time.monotonic()
        if ev.stage == "downloading" and now - self.last < 1.0 and ev.done_bytes < ev.total_bytes:
            return
        self.last = now
        pct = f"{ev.fraction:4.0%}" if ev.total_bytes else "    "
        print(f"[{ev.stage} {pct}] {ev.describe()}", file=sys.stderr, flush=True)


def run_pull(args) -> int:
    try:
        model = model_manager.pull(args.id, args.variant, on_event=_Printer())
    except KeyboardInterrupt:
        print("cancelled: run the same command again to resume (finished files are kept)", file=sys.stderr)
        return 130
    print(f"installed {model.target} ({human(model.size)}) at {model.path}")
    return 0


def run_rm(args) -> int:
    if args.partial:
        freed = model_manager.discard_partial(args.id, args.variant)
        print(f"discarded the interrupted download, freed {human(freed)}")
        return 0
    model, freed = model_manager.remove(args.id)
    if model.linked:
        print(f"removed {model.target}; your files at {model.source.get('added_from', model.path)} were left alone")
    else:
        print(f"removed {model.target}, freed {human(freed)}")
    return 0


def run_add(args) -> int:
    model = model_manager.add(args.path, args.name)
    print(f"added {model.target} -> {model.source.get('added_from')}")
    return 0
