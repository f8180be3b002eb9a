"""In-process sections: service vs raw loop, every runtime on the same weights, a 10-turn conversation."""

from __future__ import annotations

import statistics

from bench.harness import Report, Row, interleave, median, ratio
from bench.raw_loops import PROMPT, LlamaRaw, OnnxRaw, TransformersLoop, TransformersRaw, chat_dicts
from bench import weights
from services import bandwidth, embedded
from services.backends import get_backend
from services.chat import start_chat
from services.types import GenerationParams, Message

EMB = embedded.EMBEDDED_MODEL
LLAMA2 = "llama.cpp Q4_1 (llama-cpp-python, n_threads=2)"
LLAMA1 = "llama.cpp Q4_1 (llama-cpp-python, n_threads=1)"
BF16 = "transformers bf16 (opt-in PHI_TRANSFORMERS_DTYPE=bfloat16)"
TURN_QUESTIONS = [
    "What is the capital of France?", "And of Germany?", "Name a river that flows through it.",
    "How long is that river?", "Which seas does it reach?", "Name a city on its banks.",
    "What is that city known for?", "Suggest a dish to try there.", "How is it cooked?",
    "Thanks! Summarise our chat in one sentence.",
]


def _service(target: str, messages: list[Message], n: int, cold: bool = True) -> dict:
    if cold:
        _forget(target.split(":", 1)[0])  # the raw loops pay the whole prompt every run; so does this
    s = start_chat(target, messages, GenerationParams(temperature=0, max_tokens=n)).run()
    m = s.metrics
    return {"ttft_s": m.ttft_s, "decode_tps": m.decode_tokens_per_s, "text": s.text,
            "tokens": m.completion_tokens, "cached": m.server.get("prompt_cache_tokens", 0)}


def _raw(runner, n: int, messages: list[dict] | None = None) -> dict:
    r = runner.run(messages or chat_dicts(), n)
    return {"ttft_s": r.ttft_s, "decode_tps": r.decode_tps, "ids": r.tokens, "tokens": len(r.tokens)}


def _forget(backend_name: str) -> None:
    """Drop any kept conversation state so a run starts cold."""
    for loaded in getattr(get_backend(backend_name), "_models", {}).values():
        if hasattr(loaded, "live"):
            loaded.live = None


def overhead(report: Report, n: int, rounds: int) -> None:
    """(a) The service stream against the raw runtime loop on the same loaded model."""
    msgs = [Message("user", PROMPT)]
    onnx = get_backend("onnx").load(EMB)
    raw_onnx = OnnxRaw(onnx.model, onnx.tokenizer)
    tf = get_backend("transformers").load(EMB)
    raw_tf = TransformersLoop(tf.model, tf.tokenizer)
    for label, target, raw in (("ONNX", f"onnx:{EMB}", raw_onnx), ("transformers", f"transformers:{EMB}", raw_tf)):
        res = interleave({"service": lambda: _service(target, msgs, n), "raw": lambda: _raw(raw, n)}, rounds)
        a, b = median(res["service"], "decode_tps"), median(res["raw"], "decode_tps")
        same = res["service"][0]["tokens"] == res["raw"][0]["tokens"]
        report.rows.append(Row("a. overhead", f"{label}: service stream vs raw loop (decode)", "service", a, "raw", b,
                               "tok/s", ratio(a, b), ">= 0.97", ratio(a, b) >= 0.97,
                               f"TTFT service {median(res['service'], 'ttft_s'):.3f} s vs raw "
                               f"{median(res['raw'], 'ttft_s'):.3f} s; same token count: {same}"))


def runtimes(report: Report, n: int, rounds: int, gbs: float) -> None:
    """(b) The same weights on every runtime, interleaved; decode speed against the bandwidth bound."""
    onnx = get_backend("onnx").load(EMB)
    tf = get_backend("transformers").load(EMB)
    naive = TransformersRaw(tf.model, tf.tokenizer)
    msgs = [Message("user", PROMPT)]
    cases = {
        "ONNX int4 (service, default target)": lambda: _service(f"onnx:{EMB}", msgs, n),
        "transformers fp32 generate() (naive)": lambda: _raw(naive, n),
        "transformers fp32 (service fast path)": lambda: _service(f"transformers:{EMB}", msgs, n),
    }
    sizes = {
        "ONNX int4 (service, default target)": weights.onnx_bytes(embedded.onnx_dir()),
        "transformers fp32 generate() (naive)": weights.torch_bytes(tf.model),
        "transformers fp32 (service fast path)": weights.torch_bytes(tf.model),
    }
    try:
        import copy

        import torch

        # the opt-in dtype: half the bytes per token, but greedy tokens differ from fp32, so it is
        # not the default (the same weights cast here rather than a second load from disk)
        half = copy.deepcopy(tf.model).to(torch.bfloat16)
        bf16 = TransformersLoop(half, tf.tokenizer)
        cases[BF16] = lambda: _raw(bf16, n)
        sizes[BF16] = weights.torch_bytes(half)
    except Exception as exc:  # noqa: BLE001 - a missing dtype kernel only loses this row
        report.notes.append(f"bf16 row skipped: {exc}")
    llama = None
    try:
        llama = LlamaRaw(n_threads=2)
        cases[LLAMA2] = lambda: _raw(llama, n)
        sizes[LLAMA2] = weights.gguf_bytes(embedded.gguf_path())
        # context only: on a loaded machine llama.cpp's 2 threads wait on each other at every barrier
        llama1 = LlamaRaw(n_threads=1)
        cases[LLAMA1] = lambda: _raw(llama1, n)
        sizes[LLAMA1] = sizes[LLAMA2]
    except Exception as exc:  # llama-cpp-python missing or unable to load: the row says so
        report.notes.append(f"llama.cpp row skipped: {exc}")
    res = interleave(cases, rounds)
    for name, samples in res.items():
        tps = median(samples, "decode_tps")
        bound = bandwidth.bound_tokens_per_s(sizes[name], gbs)
        report.runtimes.append({"name": name, "ttft_s": median(samples, "ttft_s"), "decode_tps": tps,
                                "weights_mb": sizes[name] / 1e6, "bound_tps": bound,
                                "fraction_of_bound": ratio(tps, bound), "runs": len(samples)})
    by = {x["name"]: x for x in report.runtimes}
    onnx_tps = by["ONNX int4 (service, default target)"]["decode_tps"]
    if llama is not None:
        ll = by[LLAMA2]
        r = ratio(onnx_tps, ll["decode_tps"])
        report.rows.append(Row("b. runtimes", "ONNX int4 vs llama.cpp, same weights (decode)", "ONNX", onnx_tps,
                               "llama.cpp", ll["decode_tps"], "tok/s", r, ">= 1.0", r >= 1.0))
        l1 = by[LLAMA1]
        r1 = ratio(onnx_tps, l1["decode_tps"])
        report.rows.append(Row("b. runtimes", "ONNX int4 vs llama.cpp n_threads=1 (decode, context)", "ONNX", onnx_tps,
                               "llama.cpp 1 thread", l1["decode_tps"], "tok/s", r1, ">= 1.0", r1 >= 1.0,
                               "the fairer opponent when the cores are shared"))
        rt = ratio(by["ONNX int4 (service, default target)"]["ttft_s"], ll["ttft_s"])
        report.rows.append(Row("b. runtimes", "ONNX int4 vs llama.cpp (TTFT, lower is better)", "ONNX",
                               by["ONNX int4 (service, default target)"]["ttft_s"], "llama.cpp", ll["ttft_s"], "s",
                               rt, "<= 1.0", rt <= 1.0))
    fast = by["transformers fp32 (service fast path)"]["decode_tps"]
    slow = by["transformers fp32 generate() (naive)"]["decode_tps"]
    r = ratio(fast, slow)
    report.rows.append(Row("b. runtimes", "transformers: service fast path vs naive generate() (decode)", "fast", fast,
                           "generate()", slow, "tok/s", r, ">= 2.0", r >= 2.0))
    if BF16 in by:
        hb = by[BF16]["decode_tps"]
        r = ratio(hb, slow)
        report.rows.append(Row("b. runtimes", "transformers: bf16 plain loop vs naive fp32 generate() (decode)", "bf16",
                               hb, "generate()", slow, "tok/s", r, ">= 2.0", r >= 2.0,
                               "opt-in; greedy tokens differ from fp32"))


def conversation(report: Report, n: int, turns: int, with_transformers: bool, passes: int = 2) -> None:
    """(c) A 10-turn conversation: TTFT of every turn with prefix reuse, against a fresh raw run.

    Each turn runs A (service, kept state) then B (raw loop from scratch); the whole conversation is
    repeated `passes` times and each cell is the median over passes.
    """
    onnx = get_backend("onnx").load(EMB)
    sides = [("onnx", OnnxRaw(onnx.model, onnx.tokenizer))]
    if with_transformers:
        tf = get_backend("transformers").load(EMB)
        sides.append(("transformers", TransformersLoop(tf.model, tf.tokenizer)))
    rows: dict[int, dict] = {i: {"turn": i} for i in range(1, turns + 1)}
    for name, raw in sides:
        reuse: dict[int, list] = {i: [] for i in rows}
        fresh: dict[int, list] = {i: [] for i in rows}
        same: dict[int, bool] = {i: True for i in rows}
        for _ in range(passes):
            _forget(name)
            history: list[Message] = []
            for i, q in enumerate(TURN_QUESTIONS[:turns], 1):
                history.append(Message("user", q))
                svc = _service(f"{name}:{EMB}", history, n, cold=False)  # A: kept state, only the new turn is fed
                plain = _raw(raw, n, [{"role": m.role, "content": m.content} for m in history])  # B: from scratch
                reuse[i].append(svc["ttft_s"])
                fresh[i].append(plain["ttft_s"])
                same[i] = same[i] and svc["tokens"] == plain["tokens"]
                history.append(Message("assistant", svc["text"]))
        for i, row in rows.items():
            row[f"{name} TTFT s (reuse)"] = statistics.median(reuse[i])
            row[f"{name} TTFT s (fresh)"] = statistics.median(fresh[i])
            row[f"{name} same answer"] = same[i]
        first, last = rows[1][f"{name} TTFT s (reuse)"], rows[turns][f"{name} TTFT s (reuse)"]
        r = ratio(last, first)
        report.rows.append(Row("c. 10 turns", f"{name}: turn-{turns} TTFT vs turn-1 TTFT (reuse)",
                               f"turn {turns}", last, "turn 1", first, "s", r, "<= 1.5", r <= 1.5,
                               f"median of {passes} passes; answers equal to a fresh greedy run on every turn: "
                               f"{all(same.values())}; fresh turn {turns}: {rows[turns][f'{name} TTFT s (fresh)']:.2f} s"))
    report.turns = [rows[i] for i in sorted(rows)]


def machine_bandwidth() -> float:
    """Measured read bandwidth (GB/s) for the bound."""
    return bandwidth.read_bandwidth_gbs()
