"""One benchmark case in a fresh process: load one runtime, warm it up, time a few runs, print one JSON line.

    python -m bench.child '{"case": "onnx-raw", "n": 48, "runs": 2}'

A process holds exactly one runtime, so no other runtime's thread pool (ONNX Runtime's spinning
intra-op threads, torch's OpenMP pool, llama.cpp's workers) can take its cores while it is timed.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time

STARTED = time.perf_counter()

EMB = "smollm2-135m-instruct"


def _service_runner(backend_name: str):
    from bench.raw_loops import PROMPT, forget
    from services.backends import get_backend
    from services.chat import start_chat
    from services.types import GenerationParams, Message

    target = f"{backend_name}:{EMB}"
    get_backend(backend_name).prepare(EMB)

    def run(n: int) -> dict:
        forget(backend_name)
        # repetition_penalty 1.0: the raw loops are plain greedy, so the service is asked the same
        answer = start_chat(target, [Message("user", PROMPT)],
                            GenerationParams(temperature=0, max_tokens=n, repetition_penalty=1.0))
        answer.text()  # a failure is raised
        s = answer.outcome
        m = s.metrics
        return {"ttft_s": m.ttft_s, "decode_tps": m.decode_tokens_per_s, "tokens": m.completion_tokens,
                "text": s.text}

    extra = {}
    if backend_name == "llamacpp":
        loaded = get_backend("llamacpp").load(EMB)
        import llama_cpp

        extra["n_threads"] = llama_cpp.llama_n_threads(loaded.llm.ctx)
    return run, extra


def _raw_runner(make):
    from bench.raw_loops import chat_dicts

    runner = make()

    def run(n: int) -> dict:
        r = runner.run(chat_dicts(), n)
        return {"ttft_s": r.ttft_s, "decode_tps": r.decode_tps, "tokens": len(r.tokens), "ids": r.tokens}

    return run


def _tf_model(dtype: str = "float32"):
    from services.backends import get_backend

    loaded = get_backend("transformers").load(EMB)
    if dtype == "bfloat16":
        import torch

        loaded.model.to(torch.bfloat16)
    return loaded


def build(spec: dict):
    """The run(n) -> dict function for one case, and facts about its setup."""
    case = spec["case"]
    if case in ("onnx-service", "llamacpp-service", "transformers-service"):
        return _service_runner(case.split("-")[0])
    if case == "onnx-raw":
        from bench.raw_loops import OnnxRaw

        return _raw_runner(lambda: OnnxRaw(session_options=spec.get("session_options"))), {
            "session_options": spec.get("session_options") or {}}
    if case == "llamacpp-raw":
        from bench.raw_loops import LlamaRaw

        return _raw_runner(lambda: LlamaRaw(n_threads=spec["n_threads"])), {"n_threads": spec["n_threads"]}
    if case == "transformers-generate":
        from bench.raw_loops import TransformersRaw

        loaded = _tf_model()
        return _raw_runner(lambda: TransformersRaw(loaded.model, loaded.tokenizer)), {}
    if case == "transformers-loop":
        from bench.raw_loops import TransformersLoop

        loaded = _tf_model(spec.get("dtype", "float32"))
        return _raw_runner(lambda: TransformersLoop(loaded.model, loaded.tokenizer)), {"dtype": spec.get("dtype")}
    if case == "transformers-static":
        from bench.raw_loops import TransformersStatic

        loaded = _tf_model()
        return _raw_runner(lambda: TransformersStatic(loaded.model, loaded.tokenizer,
                                                      compile=spec.get("compile", False))), {}
    raise SystemExit(f"unknown case {case!r}")


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec["case"] == "conversation":
        from bench.sections import conversation_one

        out = conversation_one(spec["runtime"], int(spec["n"]), int(spec["turns"]), int(spec["passes"]))
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    run, extra = build(spec)
    loaded_s = time.perf_counter() - STARTED
    n, runs = int(spec.get("n", 48)), int(spec.get("runs", 2))
    for _ in range(int(spec.get("warmup", 1))):
        run(n)  # untimed: first-call allocations and kernel selection
    samples = [run(n) for _ in range(runs)]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "case": spec["case"], "pid": os.getpid(), "load_s": loaded_s, "samples": samples,
        "decode_tps": statistics.median(s["decode_tps"] for s in samples),
        "ttft_s": statistics.median(s["ttft_s"] for s in samples),
        "cpu_s": ru.ru_utime + ru.ru_stime, **extra,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
