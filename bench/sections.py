"""Sections of the suite: every runtime case in its own fresh process, interleaved; a 10-turn conversation."""

from __future__ import annotations

import os
import statistics
from typing import Callable

from bench import weights
from bench.harness import Report, Row, interleave_processes, median, ratio, round_ratios, spread
from services.models import bandwidth
from services.models import embedded

EMB = embedded.EMBEDDED_MODEL
ONNX_SVC = "ONNX (service)"
ONNX_RAW = "ONNX (raw og.Generator loop)"
LLAMA_SVC = "llama.cpp Q4_1 (service, threads chosen per load)"
TF_NAIVE = "transformers fp32 generate() (naive)"
TF_SVC = "transformers fp32 (service fast path)"
TF_LOOP = "transformers fp32 (raw forward loop)"
BF16 = "transformers bf16 loop (opt-in PHI_TRANSFORMERS_DTYPE=bfloat16)"
TF_COMPILED = "transformers fp32 generate(), static cache + torch.compile"
TURN_QUESTIONS = [
    "What is the capital of France?", "And of Germany?", "Name a river that flows through it.",
    "How long is that river?", "Which seas does it reach?", "Name a city on its banks.",
    "What is that city known for?", "Suggest a dish to try there.", "How is it cooked?",
    "Thanks! Summarise our chat in one sentence.",
]
# ONNX Runtime session options measured against the builder's defaults (raw loop, own process each);
# og 0.18 passes a string key it does not name itself on to ORT as a session config entry
ONNX_OPTIONS = {
    "intra_op_num_threads=1": {"intra_op_num_threads": 1},
    "intra-op spinning off": {"session.intra_op.allow_spinning": "0"},
    "graph optimisation basic": {"graph_optimization_level": "ORT_ENABLE_BASIC"},
}


def llama_fixed(threads: int) -> str:
    return f"llama.cpp Q4_1 (raw, n_threads={threads})"


def onnx_option(label: str) -> str:
    return f"ONNX raw, {label}"


def thread_counts(cores: int) -> list[int]:
    """Fixed llama.cpp thread counts worth measuring: 1, the core count, and a few between."""
    return sorted({1, cores, *range(2, min(cores, 4) + 1)})


def cases(quick: bool, cores: int) -> dict[str, dict]:
    """Every case of the runtime sections, each a spec for bench/child.py."""
    out = {
        ONNX_SVC: {"case": "onnx-service"},
        ONNX_RAW: {"case": "onnx-raw"},
        LLAMA_SVC: {"case": "llamacpp-service"},
        **{llama_fixed(t): {"case": "llamacpp-raw", "n_threads": t} for t in thread_counts(cores)},
        TF_NAIVE: {"case": "transformers-generate"},
        TF_SVC: {"case": "transformers-service"},
        TF_LOOP: {"case": "transformers-loop"},
        **{onnx_option(k): {"case": "onnx-raw", "session_options": v} for k, v in ONNX_OPTIONS.items()},
    }
    if not quick:
        out[BF16] = {"case": "transformers-loop", "dtype": "bfloat16"}
        # compiled in the process's warm-up run (inductor caches the result on disk for the next one)
        out[TF_COMPILED] = {"case": "transformers-static", "compile": True}
    return out


def _sizes(names: list[str]) -> dict[str, float]:
    onnx = weights.onnx_bytes(embedded.onnx_dir())
    gguf = weights.gguf_bytes(embedded.gguf_path())
    fp32 = weights.safetensors_bytes(embedded.hf_dir())
    out = {}
    for name in names:
        if name.startswith("ONNX"):
            out[name] = onnx
        elif name.startswith("llama.cpp"):
            out[name] = gguf
        else:
            out[name] = fp32 / 2 if name == BF16 else fp32
    return out


def _row(section: str, what: str, res: dict, a: str, b: str, key: str, a_label: str, b_label: str, unit: str,
         goal: str, test: Callable[[float], bool], note: str = "") -> Row:
    """A against B from separate processes: medians, their spreads and the per-round ratio spread."""
    va, vb = median(res[a], key), median(res[b], key)
    r = ratio(va, vb)
    rs = spread(round_ratios(res[a], res[b], key))
    return Row(section, what, a_label, va, b_label, vb, unit, r, goal, None if r != r else test(r), note,
               spread([x.get(key) for x in res[a]]), spread([x.get(key) for x in res[b]]), rs)


def runtimes(report: Report, n: int, rounds: int, runs: int, gbs: float, quick: bool,
             spawn: Callable[[dict], dict]) -> dict[str, list[dict]]:
    """(a, b) Every runtime on the same weights, one fresh process per case and round, interleaved."""
    cores = len(os.sched_getaffinity(0))
    specs = {name: dict(spec, n=n, runs=runs) for name, spec in cases(quick, cores).items()}
    res = interleave_processes(specs, rounds, spawn)
    for name, procs in res.items():
        bad = [p["error"] for p in procs if "error" in p]
        if bad:
            report.notes.append(f"{name}: {len(bad)} of {len(procs)} processes failed: {bad[0]}")
    sizes = _sizes(list(res))
    for name, procs in res.items():
        ok = [p for p in procs if "error" not in p]
        tps = median(ok, "decode_tps")
        bound = bandwidth.bound_tokens_per_s(sizes[name], gbs)
        report.runtimes.append({"name": name, "ttft_s": median(ok, "ttft_s"), "decode_tps": tps,
                                "spread": spread([p["decode_tps"] for p in ok]), "processes": len(ok),
                                "weights_mb": sizes[name] / 1e6, "bound_tps": bound,
                                "fraction_of_bound": ratio(tps, bound),
                                "n_threads": statistics.median(p["n_threads"] for p in ok)
                                if ok and "n_threads" in ok[0] else None,
                                "load": spread([p.get("load") for p in procs])})
    by = {x["name"]: x for x in report.runtimes}
    fixed = [llama_fixed(t) for t in thread_counts(cores)]
    best = max(fixed, key=lambda k: by[k]["decode_tps"] if by[k]["decode_tps"] == by[k]["decode_tps"] else -1)
    same = _same_tokens(res[ONNX_SVC], res[ONNX_RAW])
    report.rows.append(_row("a. overhead", "ONNX: service stream vs raw loop (decode)", res, ONNX_SVC, ONNX_RAW,
                            "decode_tps", "service", "raw", "tok/s", ">= 0.97", lambda r: r >= 0.97,
                            f"same token count: {same}"))
    report.rows.append(_row("a. overhead", "transformers: service fast path vs raw forward loop (decode)", res,
                            TF_SVC, TF_LOOP, "decode_tps", "service", "raw", "tok/s", ">= 0.97",
                            lambda r: r >= 0.97, f"same token count: {_same_tokens(res[TF_SVC], res[TF_LOOP])}"))
    threads = by[LLAMA_SVC].get("n_threads")
    report.rows.append(_row("b. runtimes", "llama.cpp: service (threads chosen per load) vs best fixed n_threads",
                            res, LLAMA_SVC, best, "decode_tps", "service", best.split("(raw, ")[1].rstrip(")"),
                            "tok/s", ">= 0.95 (level)", lambda r: r >= 0.95,
                            f"the service chose n_threads={threads if threads is None else int(threads)}"))
    report.rows.append(_row("b. runtimes", "ONNX int8 build vs best llama.cpp, same source weights (decode)",
                            res, ONNX_SVC, best, "decode_tps", "ONNX", "llama.cpp", "tok/s", ">= 1.2",
                            lambda r: r >= 1.2, f"llama.cpp at its best fixed thread count ({best})"))
    report.rows.append(_row("b. runtimes", "ONNX int8 build vs llama.cpp service (TTFT, lower is better)", res, ONNX_SVC,
                            LLAMA_SVC, "ttft_s", "ONNX", "llama.cpp", "s", "<= 1.0", lambda r: r <= 1.0))
    report.rows.append(_row("b. runtimes", "transformers: service fast path vs naive generate() (decode)", res,
                            TF_SVC, TF_NAIVE, "decode_tps", "fast", "generate()", "tok/s", ">= 2.0",
                            lambda r: r >= 2.0))
    for label in ONNX_OPTIONS:
        report.rows.append(_row("b. ONNX options", f"ONNX raw loop: {label} vs builder defaults (decode)", res,
                                onnx_option(label), ONNX_RAW, "decode_tps", label, "defaults", "tok/s",
                                "> 1.0 to adopt", lambda r: r > 1.0))
    if TF_COMPILED in res:
        report.rows.append(_row("b. runtimes", "transformers: static cache + torch.compile vs naive generate() "
                                "(decode)", res, TF_COMPILED, TF_NAIVE, "decode_tps", "compiled", "generate()",
                                "tok/s", ">= 2.0", lambda r: r >= 2.0,
                                "same greedy tokens; fp32 reads the same bytes per token, so the bound caps it"))
    if BF16 in res:
        report.rows.append(_row("b. runtimes", "transformers: bf16 loop vs naive fp32 generate() (decode)", res,
                                BF16, TF_NAIVE, "decode_tps", "bf16", "generate()", "tok/s", ">= 2.0",
                                lambda r: r >= 2.0, "opt-in; greedy tokens differ from fp32"))
    return res


def busy_machine(report: Report, n: int, rounds: int, spawn: Callable[[dict], dict]) -> None:
    """(b) llama.cpp with one core taken by a competing busy loop: threads chosen per answer vs fixed."""
    import subprocess
    import sys

    cores = len(os.sched_getaffinity(0))
    specs = {LLAMA_SVC: {"case": "llamacpp-service"},
             **{llama_fixed(t): {"case": "llamacpp-raw", "n_threads": t} for t in (1, cores)}}
    specs = {k: dict(v, n=n, runs=1) for k, v in specs.items()}
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # another program holding a core
    try:
        res = interleave_processes(specs, rounds, spawn)
    finally:
        hog.kill()
        hog.wait()
    threads = [p.get("n_threads") for p in res[LLAMA_SVC] if "error" not in p]
    for fixed in (llama_fixed(1), llama_fixed(cores)):
        if fixed == llama_fixed(1) and cores == 1:
            continue
        report.rows.append(_row("b. busy machine", f"llama.cpp service vs {fixed.split('(raw, ')[1].rstrip(')')}, "
                                "one core held by a busy loop (decode)", res, LLAMA_SVC, fixed, "decode_tps",
                                "service", "fixed", "tok/s", ">= 0.95", lambda r: r >= 0.95,
                                f"the service chose n_threads={threads}"))


def _same_tokens(a: list[dict], b: list[dict]) -> bool | None:
    """Whether the first sample of each side produced as many tokens (text vs ids cannot be compared)."""
    try:
        return a[0]["samples"][0]["tokens"] == b[0]["samples"][0]["tokens"]
    except (IndexError, KeyError):
        return None


def conversation_one(name: str, n: int, turns: int, passes: int) -> dict:
    """One runtime's 10-turn conversation (run inside its own process): TTFT per turn, reuse vs fresh.

    Each turn runs A (service, kept state) then B (raw loop from scratch); the whole conversation is
    repeated `passes` times and each cell is the median over passes.
    """
    from bench.raw_loops import OnnxRaw, TransformersLoop, forget
    from services.backends import get_backend
    from services.chat import start_chat
    from services.types import GenerationParams, Message

    loaded = get_backend(name).load(EMB)
    raw = (OnnxRaw if name == "onnx" else TransformersLoop)(loaded.model, loaded.tokenizer)
    params = GenerationParams(temperature=0, max_tokens=n, repetition_penalty=1.0)
    reuse: dict[int, list] = {i: [] for i in range(1, turns + 1)}
    fresh: dict[int, list] = {i: [] for i in reuse}
    same: dict[int, bool] = {i: True for i in reuse}
    for _ in range(passes):
        forget(name)
        history: list[Message] = []
        for i, q in enumerate(TURN_QUESTIONS[:turns], 1):
            history.append(Message("user", q))
            answer = start_chat(f"{name}:{EMB}", history, params)  # A: kept state, only the new turn is fed
            answer.text()  # a failure is raised
            svc = answer.outcome
            plain = raw.run([{"role": m.role, "content": m.content} for m in history], n)  # B: from scratch
            reuse[i].append(svc.metrics.ttft_s)
            fresh[i].append(plain.ttft_s)
            same[i] = same[i] and svc.metrics.completion_tokens == len(plain.tokens)
            history.append(Message("assistant", svc.text))
    return {"reuse": {i: statistics.median(v) for i, v in reuse.items()},
            "fresh": {i: statistics.median(v) for i, v in fresh.items()}, "same": same}


def conversation(report: Report, n: int, turns: int, passes: int, spawn: Callable[[dict], dict],
                 names: tuple[str, ...] = ("onnx", "transformers")) -> None:
    """(c) A 10-turn conversation per runtime, each runtime in its own process."""
    rows: dict[int, dict] = {i: {"turn": i} for i in range(1, turns + 1)}
    for name in names:
        res = spawn({"case": "conversation", "runtime": name, "n": n, "turns": turns, "passes": passes})
        if "error" in res:
            report.notes.append(f"c. conversation on {name} failed: {res['error']}")
            continue
        for i, row in rows.items():
            row[f"{name} TTFT s (reuse)"] = res["reuse"][str(i)]
            row[f"{name} TTFT s (fresh)"] = res["fresh"][str(i)]
            row[f"{name} same answer"] = res["same"][str(i)]
        first, last = rows[1][f"{name} TTFT s (reuse)"], rows[turns][f"{name} TTFT s (reuse)"]
        r = ratio(last, first)
        report.rows.append(Row("c. 10 turns", f"{name}: turn-{turns} TTFT vs turn-1 TTFT (reuse)",
                               f"turn {turns}", last, "turn 1", first, "s", r, "<= 1.5", r <= 1.5,
                               f"median of {passes} passes; answers as long as a fresh greedy run on every turn: "
                               f"{all(res['same'].values())}; fresh turn {turns}: "
                               f"{rows[turns][f'{name} TTFT s (fresh)']:.2f} s"))
    report.turns = [rows[i] for i in sorted(rows)]


def machine_bandwidth() -> float:
    """Measured read bandwidth (GB/s) for the bound."""
    return bandwidth.read_bandwidth_gbs()
