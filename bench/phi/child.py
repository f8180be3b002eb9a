"""One runtime on one built model in a fresh process: load, prefill at each prompt length, decode with no early stop.

    python -m bench.phi.child '{"runtime": "llamacpp", "path": "...", "prompts": [128, 1000], "decode": 128}'

Prints one JSON line after each phase (the parent keeps the last), so a run cut short still reports
what it measured. Prompts are seeded random token ids below 32,000; greedy decoding ignores EOS.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

from services import cpu_cores

STARTED = time.perf_counter()


def _status(key: str) -> float:
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def prompt(n: int, seed: int = 0) -> list[int]:
    """n token ids, the same for every runtime."""
    rng = random.Random(seed * 7919 + n)
    return [rng.randrange(3, 32000) for _ in range(n)]


class LlamaCpp:
    """llama_cpp.Llama driven token by token: eval the prompt, then argmax and eval one token at a time."""

    def __init__(self, path: str, ctx: int, threads: int, mmap: bool = True):
        import llama_cpp
        import numpy as np

        self.np = np
        # mmap on, as the app's backend loads: the file's pages count in RSS while the CPU backend's
        # repacked copies of the weights are anonymous memory
        self.llm = llama_cpp.Llama(model_path=path, n_ctx=ctx, n_batch=512, n_threads=threads,
                                   n_threads_batch=threads, use_mmap=mmap, verbose=False)

    def _next(self) -> int:
        # the last token's logits straight from the context: Llama.eval keeps no scores unless logits_all
        logits = self.np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),))
        return int(self.np.argmax(logits))

    def run(self, ids: list[int], n: int) -> list[float]:
        self.llm.reset()
        t0 = time.perf_counter()
        self.llm.eval(ids)
        tok, stamps = self._next(), [time.perf_counter() - t0]
        for _ in range(n - 1):
            self.llm.eval([tok])
            tok = self._next()
            stamps.append(time.perf_counter() - t0)
        return stamps


class Onnx:
    """og.Generator: append the prompt, then generate_next_token; min_length keeps EOS from ending it."""

    def __init__(self, path: str, ctx: int, threads: int):
        import onnxruntime_genai as og

        self.og, self.path = og, path
        # ONNX Runtime's own thread choice, as the app's ONNX backend leaves it
        config = json.load(open(os.path.join(path, "genai_config.json")))
        window = (config["model"]["decoder"].get("sliding_window") or {}).get("window_size")
        self.shared_limit = window + 16 if window else None
        self.model, self.long = og.Model(og.Config(path)), False

    def _long_model(self):
        """og 0.18 with the builder's Phi-3 sliding window (2047) and the shared KV buffer stops at 2,063 tokens
        of context ("total_sequence_length must equal past_sequence_length + ..."): past the window the
        model is loaded again with past_present_share_buffer off, the one setting that lets it through."""
        if not self.long:
            del self.model
            config = self.og.Config(self.path)
            config.overlay(json.dumps({"search": {"past_present_share_buffer": False}}))
            self.model, self.long = self.og.Model(config), True
        return self.model

    def run(self, ids: list[int], n: int) -> list[float]:
        og = self.og
        if self.shared_limit and len(ids) + n > self.shared_limit:
            self._long_model()
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + n, min_length=len(ids) + n, do_sample=False)
        gen = og.Generator(self.model, params)
        t0 = time.perf_counter()
        gen.append_tokens(ids)
        stamps = []
        for _ in range(n):
            gen.generate_next_token()
            stamps.append(time.perf_counter() - t0)
        del gen
        return stamps


class Transformers:
    """The model's forward with its KV cache, greedy, in the checkpoint's bf16."""

    def __init__(self, path: str, ctx: int, threads: int):
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        self.threads = torch.get_num_threads()
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()

    def run(self, ids: list[int], n: int) -> list[float]:
        torch = self.torch
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = self.model(torch.tensor([ids]), use_cache=True, logits_to_keep=1)
            past, tok = out.past_key_values, int(out.logits[0, -1].argmax())
            stamps = [time.perf_counter() - t0]
            for _ in range(n - 1):
                out = self.model(torch.tensor([[tok]]), past_key_values=past, use_cache=True)
                past, tok = out.past_key_values, int(out.logits[0, -1].argmax())
                stamps.append(time.perf_counter() - t0)
        return stamps


class LlamaCppNoMmap(LlamaCpp):
    """The same, reading the file into memory instead of mapping it (a memory lever)."""

    def __init__(self, path: str, ctx: int, threads: int):
        super().__init__(path, ctx, threads, mmap=False)


RUNTIMES = {"llamacpp": LlamaCpp, "llamacpp-nommap": LlamaCppNoMmap, "onnx": Onnx, "transformers": Transformers}


def _memory(out: dict) -> None:
    out["hwm_mb"] = _status("VmHWM:")
    out["rss_anon_mb"], out["rss_file_mb"] = _status("RssAnon:"), _status("RssFile:")


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    prompts, decode, seed = spec.get("prompts", [128]), int(spec.get("decode", 128)), int(spec.get("seed", 0))
    # llama.cpp gets what the app gives it: one thread per free physical core (services/cpu_cores.py)
    threads = int(spec.get("threads") or cpu_cores.threads_for_now("LLAMACPP_N_THREADS"))
    ctx = int(spec.get("ctx") or max(max(prompts) + 1, prompts[0] + decode))
    rt = RUNTIMES[spec["runtime"]](spec["path"], ctx, threads)
    # threads: llama.cpp's chosen count, torch's pool; ONNX Runtime's own is not exposed
    used = threads if spec["runtime"].startswith("llamacpp") else getattr(rt, "threads", None)
    out = {"runtime": spec["runtime"], "pid": os.getpid(), "threads": used, "ctx": ctx,
           "load_s": time.perf_counter() - STARTED, "rss_load_mb": _status("VmRSS:"), "prefill": {}}
    rt.run(prompt(16, seed + 1), 8)  # untimed: first-call allocations and kernel selection
    # decode after the first (shortest) prompt; then prefill alone at each longer length
    stamps = rt.run(prompt(prompts[0], seed), decode)
    out["decode_tokens"] = len(stamps)
    out["decode_mean_tps"] = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    # the median time per token: other tenants' bursts on this shared machine hit single steps, not the median
    steps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    out["decode_tps"] = 1.0 / steps[len(steps) // 2]
    out["prefill"][str(prompts[0])] = {"ttft_s": stamps[0], "tps": prompts[0] / stamps[0]}
    _memory(out)
    print(json.dumps(out), flush=True)
    for n in prompts[1:]:
        first = rt.run(prompt(n, seed), 1)[0]
        out["prefill"][str(n)] = {"ttft_s": first, "tps": n / first}
        _memory(out)
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
