"""Hugging Face transformers: generate() in a worker thread feeding a TextIteratorStreamer."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from services.models import embedded, local as local_models
from services.backends.transformers import moe_routing as routing  # MoE routing hooks live beside this backend
from services.backends import limits
from services.backends.base import Resident, StopMatcher, messages_as_dicts
from services.backends.memory import ResidentModels, room, weights_bytes
from services.backends.transformers import fast as transformers_fast, guided as transformers_guided, moe_sizes
from services.backends.transformers import vision as transformers_vision
from services.backends.transformers.worker import eos_ids, generate_in_worker
from services.errors import BackendUnavailable, BadRequest
from services.types import Capabilities, ChatRequest, Done, Message, TargetInfo, Token, Usage

# torch's OpenMP threads spin while waiting by default; on a busy 2-core machine
# the spinning thread steals the core the working one needs (a decode step measured 2.5 s spinning
# vs 0.3 s passive under load). Read once when torch loads, so it is set before that; the user's
# own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass
class TextModel:
    """A model and tokenizer with the lock that serialises generation on them."""

    name: str
    model: object
    tokenizer: object
    context_length: int
    eos_ids: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    # the last greedy run's cache, reused when the next prompt continues it
    live: object = None


def dtype_setting(torch):
    """PHI_TRANSFORMERS_DTYPE: float32 (default, exact) or bfloat16 (half the bytes per token, other tokens)."""
    # bf16 weights halve what each token reads; greedy answers differ from fp32
    name = os.environ.get("PHI_TRANSFORMERS_DTYPE", "float32").strip().lower() or "float32"
    if name not in ("float32", "bfloat16"):
        raise BadRequest(f"PHI_TRANSFORMERS_DTYPE must be float32 or bfloat16, not {name!r}.")
    return getattr(torch, name)


def generation_values(params) -> dict:
    """GenerationParams as GenerationConfig fields, less the model's own eos and pad ids (the Code
    panel writes the same ones); temperature 0 is greedy with no sampling fields at all."""
    cfg = {"max_new_tokens": params.max_tokens, "do_sample": not params.greedy,
           "repetition_penalty": params.penalty(local=True)}
    if not params.greedy:
        cfg.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
    if params.stop:
        cfg["stop_strings"] = list(params.stop)
    return cfg


def _resolve(model: str, progress=None) -> tuple[str, dict]:
    """Map a model name to what from_pretrained takes (a folder, or a cached hub id)."""
    if model == embedded.EMBEDDED_MODEL:
        return str(embedded.ensure_hf(progress or embedded.quiet)), {}
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BadRequest(f"{path} is not a transformers model folder (config.json is missing).")
        return str(path), {}
    found = local_models.find("transformers", model)
    if found is not None:
        return str(found), {}
    # a hub id: only what is already in the local cache, never a download from here
    return model, {"local_files_only": True}


def _dtype_name(source: str) -> str:
    """PHI_TRANSFORMERS_DTYPE when set; else float32, or bfloat16 for a 16-bit checkpoint whose fp32 copy
    would not fit in memory (Phi-tiny-MoE: 7.6 GB of bf16 weights, 15.2 GB in fp32, on a 16 GB machine)."""
    name = os.environ.get("PHI_TRANSFORMERS_DTYPE", "").strip().lower()
    if name:
        return name
    return moe_sizes.dtype_that_fits(source, "float32", local_models.machine_memory())


def _estimate(source: str) -> int:
    """Bytes the weights will take once loaded, with the dtype this backend will load them in."""
    return weights_bytes(source, float32=_dtype_name(source) == "float32")


class TransformersBackend(ResidentModels):
    """Local generation with transformers on the CPU."""

    name = "transformers"
    ignored_params: frozenset[str] = frozenset()

    def __init__(self):
        self._models: dict[str, TextModel] = {}
        self._load_lock = threading.Lock()

    def forget_state(self, model: TextModel) -> None:
        """Drop the cache of the last greedy run."""
        model.live = None

    def list_targets(self) -> list[TargetInfo]:
        """The embedded model plus any installed transformers model."""
        try:
            import transformers  # noqa: F401

            ok, reason = True, ""
            embedded.gguf_path()
        except ImportError:
            ok, reason = False, "transformers is not installed"
        except BackendUnavailable as exc:
            ok, reason = False, exc.message
        out = [
            TargetInfo(
                f"transformers:{embedded.EMBEDDED_MODEL}", ok, reason,
                label="SmolLM2-135M-Instruct (embedded, transformers fp32)", family="SmolLM2-135M",
                capabilities=self.capabilities(embedded.EMBEDDED_MODEL),
            )
        ]
        for name, _folder in local_models.installed("transformers"):
            out.append(TargetInfo(f"transformers:{name}", ok, reason, label=f"{name} (transformers, local)",
                                  family=local_models.family_of(name), capabilities=self.capabilities(name)))
        return out

    def capabilities(self, model: str) -> Capabilities:
        """Text generation; the context length comes from the loaded config when known."""
        # the vision path takes no grammar yet: JSON answers are not constrained there
        vision_caps = transformers_vision.capabilities(model, self.ignored_params | {"response_format"})
        if vision_caps is not None:
            return vision_caps
        loaded = self._models.get(model)
        ctx = loaded.context_length if loaded else 8192
        # MoE routing: routers found on the loaded model, else guessed from its config
        moe = routing.has_routers(loaded.model) if loaded else routing.looks_moe(model)
        return Capabilities(text=True, context_length=ctx, ignored_params=self.ignored_params, moe_routing=moe)

    def loaded(self) -> list[Resident]:
        """The text models and, beside them, the vision models this backend runs."""
        return super().loaded() + transformers_vision.resident.loaded()

    def unload(self, key: str) -> bool:
        """Drop a text or vision model; False while it is answering."""
        return super().unload(key) and transformers_vision.resident.unload(key)

    def routing_info(self, model: str) -> dict:
        """MoE routing facts for the routing page: family, scoring, shared experts, random weights, sizes."""
        loaded = self.load(model)
        return {**routing.describe(loaded.model), **moe_sizes.counts(loaded.model)}

    def load(self, model: str, progress=None) -> TextModel:
        """Load once per process (Phi-3/3.5 load natively, never with remote code)."""
        with self._load_lock:
            if model in self._models:
                self._mark_used(model)
                return self._models[model]
            source, kwargs = _resolve(model, progress)
            with room(self, model, _estimate(source)):
                return self._load(model, source, kwargs)

    def _load(self, model: str, source: str, kwargs: dict) -> TextModel:
        """Load the weights and tokenizer (called with the load lock held and room made)."""
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailable(
                "transformers or torch is not installed.", hint="Run: pip install -r requirements.txt"
            ) from exc
        try:
            tok = AutoTokenizer.from_pretrained(source, **kwargs)
            dtype = dtype_setting(torch) if os.environ.get("PHI_TRANSFORMERS_DTYPE", "").strip() \
                else getattr(torch, _dtype_name(source))
            mdl = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
        except OSError as exc:
            if kwargs.get("local_files_only"):
                raise BackendUnavailable(
                    f"{model} is not on this machine and no model hub is reachable from here.",
                    hint="Download it on the Models page when online, or add a local folder.",
                ) from exc
            raise BackendUnavailable(f"Could not load {model}: {exc}") from exc
        mdl.eval()
        cfg = mdl.config
        ctx = int(getattr(cfg, "max_position_embeddings", 4096) or 4096)
        loaded = TextModel(model, mdl, tok, ctx, eos_ids(mdl, tok))
        self._models[model] = loaded
        self._mark_used(model, sum(t.numel() * t.element_size() for t in (*mdl.parameters(), *mdl.buffers())))
        return loaded

    def prepare(self, model: str) -> None:
        """Load ahead of generation so load time is measured apart."""
        if transformers_vision.handles(model):
            transformers_vision.load(model)
            return
        self.load(model)

    def prompt_ids(self, loaded: TextModel, messages: tuple[Message, ...]):
        """Token ids of the chat template with the assistant turn opened."""
        out = loaded.tokenizer.apply_chat_template(
            messages_as_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return out["input_ids"]

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Prompt tokens after templating."""
        if transformers_vision.handles(model):
            return transformers_vision.count_tokens(model, messages)
        loaded = self.load(model)
        return int(self.prompt_ids(loaded, messages).shape[-1])

    def generation_kwargs(self, loaded: TextModel, params) -> dict:
        """Map GenerationParams; temperature 0 is greedy with no sampling fields at all."""
        from transformers import GenerationConfig

        cfg = {
            **generation_values(params),
            "eos_token_id": loaded.eos_ids,
            "pad_token_id": loaded.tokenizer.pad_token_id
            if loaded.tokenizer.pad_token_id is not None else loaded.eos_ids[0],
        }
        return {"generation_config": GenerationConfig(**cfg)}

    def stream(self, request: ChatRequest) -> Iterator:
        """Stream tokens; closing the iterator sets the stop event and joins the worker."""
        if transformers_vision.handles(request.target.model):
            yield from transformers_vision.stream(self, request)
            return
        import torch
        from transformers import LogitsProcessorList

        loaded = self.load(request.target.model)
        p = request.params
        input_ids = self.prompt_ids(loaded, request.messages)
        n_prompt = int(input_ids.shape[-1])
        if n_prompt >= loaded.context_length:
            raise BadRequest(f"The prompt is {n_prompt} tokens; this model's context is {loaded.context_length}.")
        if transformers_fast.eligible(request):  # greedy pull loop, cache kept
            limits.acquire(loaded.lock)
            try:
                yield from transformers_fast.stream(loaded, request, input_ids)
            finally:
                loaded.lock.release()
            return
        kwargs = self.generation_kwargs(loaded, p)
        json_mask = transformers_guided.logits_processor(loaded, p.response_format)  # None for text
        if json_mask is not None:
            kwargs["logits_processor"] = LogitsProcessorList([json_mask])
        # MoE routing: services/reasoning/routing.py hooks the routers for this run only
        recorder = routing.recorder_for(loaded.model, loaded.tokenizer, request.routing)
        kwargs.update(recorder.generate_kwargs() if recorder else {})

        def generate(streamer, stopping_criteria):
            return loaded.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                         streamer=streamer, stopping_criteria=stopping_criteria,
                                         tokenizer=loaded.tokenizer, **kwargs)

        yield from generate_in_worker(
            loaded.lock, loaded.tokenizer, generate, n_prompt, p, thread_name="transformers-generate",
            hooked=lambda: routing.hooked(recorder),
            after=lambda ids: routing.finish(recorder, ids, kwargs),  # MoE routing: last token
            between=lambda: routing.drain(recorder),
            release=lambda: routing.release(recorder))  # MoE routing: never leave hooks behind
