"""The plainest loop each runtime offers, timed the same way: the baseline our layers are measured against."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from services.models import embedded

PROMPT = "Write a short story about a robot who learns to paint."


@dataclass
class RunResult:
    """One generation: time to first token, decode speed and the token ids produced."""

    ttft_s: float
    decode_tps: float
    tokens: list[int]


def _result(t0: float, stamps: list[float], tokens: list[int]) -> RunResult:
    first = stamps[0] - t0 if stamps else float("nan")
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    tps = (len(stamps) - 1) / span if span > 0 else float("nan")
    return RunResult(first, tps, tokens)


def forget(backend_name: str) -> None:
    """Drop any kept conversation state so the next service run pays its whole prompt, as the raw loops do."""
    from services.backends import get_backend

    # onnx and transformers keep the last generator or cache; llama.cpp the last context
    get_backend(backend_name).reset_cache()


def chat_dicts(prompt: str = PROMPT) -> list[dict]:
    """The one-turn conversation every runtime is given."""
    return [{"role": "user", "content": prompt}]


class OnnxRaw:
    """og.Generator driven directly: encode, append, generate_next_token until n tokens."""

    def __init__(self, model=None, tokenizer=None, folder=None, session_options: dict | None = None):
        import onnxruntime_genai as og

        self.og = og
        if model is None:
            config = og.Config(str(folder or embedded.ensure_onnx()))
            if session_options:
                # og 0.18 takes the named options (intra_op_num_threads, graph_optimization_level, ...)
                # and passes any other string key on as an ORT config entry (session.intra_op.allow_spinning)
                config.overlay(json.dumps({"model": {"decoder": {"session_options": session_options}}}))
            model = og.Model(config)
            tokenizer = og.Tokenizer(model)
        self.model, self.tokenizer = model, tokenizer

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        text = self.tokenizer.apply_chat_template(json.dumps(messages), add_generation_prompt=True)
        return list(self.tokenizer.encode(text))

    def run(self, messages: list[dict], n: int) -> RunResult:
        og = self.og
        t0 = time.perf_counter()
        ids = self.prompt_ids(messages)
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + n, do_sample=False)
        gen = og.Generator(self.model, params)
        gen.append_tokens(ids)
        stamps, tokens = [], []
        while not gen.is_done():
            gen.generate_next_token()
            tokens.append(int(gen.get_next_tokens()[0]))
            stamps.append(time.perf_counter())
        del gen
        return _result(t0, stamps, tokens)


class LlamaRaw:
    """llama-cpp-python's token generator on the embedded GGUF, prefix cache cleared each run."""

    def __init__(self, n_threads: int = 2, path=None):
        import llama_cpp

        self.llm = llama_cpp.Llama(str(path or embedded.gguf_path()), n_ctx=2048, n_threads=n_threads,
                                   n_threads_batch=n_threads, verbose=False)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self.llm
        special = lambda t: llm.detokenize([t], special=True).decode("utf-8", "replace") if t >= 0 else ""  # noqa: E731
        self.formatter = Jinja2ChatFormatter(template=llm.metadata.get("tokenizer.chat_template"),
                                             eos_token=special(llm.token_eos()), bos_token=special(llm.token_bos()))

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        text = self.formatter(messages=messages).prompt
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def run(self, messages: list[dict], n: int) -> RunResult:
        llm = self.llm
        t0 = time.perf_counter()
        ids = self.prompt_ids(messages)
        llm.reset()  # no prefix reuse between runs: every run pays its prompt
        stamps, tokens = [], []
        for tok in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, min_p=0.0):
            tokens.append(int(tok))
            stamps.append(time.perf_counter())
            if len(tokens) >= n or tok == llm.token_eos():
                break
        return _result(t0, stamps, tokens)


class TransformersRaw:
    """model.generate() as a user would call it: greedy, timed per token by a minimal streamer."""

    def __init__(self, model=None, tokenizer=None, folder=None):
        import torch

        self.torch = torch
        if model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = str(folder or embedded.ensure_hf())
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.model, self.tokenizer = model, tokenizer

    def prompt_ids(self, messages: list[dict]):
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                  return_dict=True)["input_ids"]

    def generate_kwargs(self) -> dict:
        return {}

    def run(self, messages: list[dict], n: int) -> RunResult:
        from transformers.generation.streamers import BaseStreamer

        torch = self.torch
        stamps: list[float] = []

        class Clock(BaseStreamer):
            # generate() calls put() once with the prompt, then once per new token
            def __init__(self):
                self.seen_prompt = False

            def put(self, value):
                if self.seen_prompt:
                    stamps.append(time.perf_counter())
                self.seen_prompt = True

            def end(self):
                pass

        t0 = time.perf_counter()
        ids = self.prompt_ids(messages)
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                      do_sample=False, streamer=Clock(),
                                      pad_token_id=self.tokenizer.eos_token_id, **self.generate_kwargs())
        return _result(t0, stamps, out[0, ids.shape[-1]:].tolist())


class TransformersStatic(TransformersRaw):
    """generate() with a static KV cache, optionally with its forward compiled by torch.compile (inductor)."""

    def __init__(self, model=None, tokenizer=None, folder=None, compile: bool = False):
        super().__init__(model, tokenizer, folder)
        self.compile = compile

    def generate_kwargs(self) -> dict:
        kw: dict = {"cache_implementation": "static"}
        if self.compile:
            from transformers import CompileConfig

            cfg = CompileConfig(mode="default")
            cfg._compile_all_devices = True  # generate() only compiles on GPUs unless told otherwise
            kw["compile_config"] = cfg
        else:
            kw["disable_compile"] = True
        return kw


class TransformersLoop(TransformersRaw):
    """The plainest forward loop: prompt once, then one token at a time with the cache, argmax."""

    def run(self, messages: list[dict], n: int) -> RunResult:
        torch = self.torch
        t0 = time.perf_counter()
        ids = self.prompt_ids(messages)
        eos = self.model.generation_config.eos_token_id
        eos = {eos} if isinstance(eos, int) else set(eos or [])
        stamps, tokens = [], []
        from services.backends.transformers.fast import cache_kw, cache_of

        kw = cache_kw(self.model)
        with torch.inference_mode():
            out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
            while len(tokens) < n:
                tok = int(out.logits[0, -1].argmax())
                tokens.append(tok)
                stamps.append(time.perf_counter())
                if tok in eos or len(tokens) >= n:
                    break
                out = self.model(input_ids=torch.tensor([[tok]]), use_cache=True, logits_to_keep=1,
                                 **{kw: cache_of(out)})
        return _result(t0, stamps, tokens)


def threads() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0))
