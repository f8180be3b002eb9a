"""In-process sections: service vs raw loop, every runtime on the same weights, a 10-turn conversation."""

from __future__ import annotations

import math
import time

from bench.harness import Report, Row, interleave, median, ratio
from bench.raw_loops import PROMPT, LlamaRaw, OnnxRaw, TransformersLoop, TransformersRaw, chat_dicts
from bench import weights
from services import bandwidth, embedded
from services.backends import get_backend
from services.chat import start_chat
from services.types import GenerationParams, Message

EMB = embedded.EMBEDDED_MODEL
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
    llama = None
    try:
        llama = LlamaRaw(n_threads=2)
        cases["llama.cpp Q4_1 (llama-cpp-python, n_threads=2)"] = lambda: _raw(llama, n)
        sizes["llama.cpp Q4_1 (llama-cpp-python, n_threads=2)"] = weights.gguf_bytes(embedded.gguf_path())
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
        ll = by["llama.cpp Q4_1 (llama-cpp-python, n_threads=2)"]
        r = ratio(onnx_tps, ll["decode_tps"])
        report.rows.append(Row("b. runtimes", "ONNX int4 vs llama.cpp, same weights (decode)", "ONNX", onnx_tps,
                               "llama.cpp", ll["decode_tps"], "tok/s", r, ">= 1.0", r >= 1.0))
        rt = ratio(by["ONNX int4 (service, default target)"]["ttft_s"], ll["ttft_s"])
        report.rows.append(Row("b. runtimes", "ONNX int4 vs llama.cpp (TTFT, lower is better)", "ONNX",
                               by["ONNX int4 (service, default target)"]["ttft_s"], "llama.cpp", ll["ttft_s"], "s",
                               rt, "<= 1.0", rt <= 1.0))
    fast = by["transformers fp32 (service fast path)"]["decode_tps"]
    slow = by["transformers fp32 generate() (naive)"]["decode_tps"]
    r = ratio(fast, slow)
    report.rows.append(Row("b. runtimes", "transformers: service fast path vs naive generate() (decode)", "fast", fast,
                           "generate()", slow, "tok/s", r, ">= 2.0", r >= 2.0))


def conversation(report: Report, n: int, turns: int, with_transformers: bool) -> None:
    """(c) A 10-turn conversation: TTFT of every turn with prefix reuse, against a fresh raw run."""
    onnx = get_backend("onnx").load(EMB)
    raw_onnx = OnnxRaw(onnx.model, onnx.tokenizer)
    sides = [("onnx", raw_onnx)]
    if with_transformers:
        tf = get_backend("transformers").load(EMB)
        sides.append(("transformers", TransformersLoop(tf.model, tf.tokenizer)))
    rows: dict[int, dict] = {}
    for name, raw in sides:
        _forget(name)
        history: list[Message] = []
        for i, q in enumerate(TURN_QUESTIONS[:turns], 1):
            history.append(Message("user", q))
            svc = _service(f"{name}:{EMB}", history, n, cold=False)  # A: kept state, only the new turn is fed
            fresh = _raw(raw, n, [{"role": m.role, "content": m.content} for m in history])  # B: from scratch
            row = rows.setdefault(i, {"turn": i})
            row[f"{name} TTFT s (reuse)"] = svc["ttft_s"]
            row[f"{name} TTFT s (fresh)"] = fresh["ttft_s"]
            row[f"{name} same answer"] = svc["tokens"] == fresh["tokens"]
            history.append(Message("assistant", svc["text"]))
        first, last = rows[1][f"{name} TTFT s (reuse)"], rows[turns][f"{name} TTFT s (reuse)"]
        r = ratio(last, first)
        same = all(rows[i][f"{name} same answer"] for i in rows)
        report.rows.append(Row("c. 10 turns", f"{name}: turn-{turns} TTFT vs turn-1 TTFT (reuse)",
                               f"turn {turns}", last, "turn 1", first, "s", r, "<= 1.5", r <= 1.5,
                               f"answers equal to a fresh greedy run on every turn: {same}"))
    report.turns = [rows[i] for i in sorted(rows)]


def machine_bandwidth() -> float:
    """Measured read bandwidth (GB/s) for the bound."""
    return bandwidth.read_bandwidth_gbs()


def finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def started() -> float:
    return time.perf_counter()
