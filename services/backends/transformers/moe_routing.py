"""MoE routing hooks for the transformers backend: record each token's experts and weights per layer.

The routers come from services/backends/transformers/moe_families.py (found per architecture). A forward hook on
each records the experts and weights the MoE block used, as the family's router gave them (Phimoe's
sparsemixer weights do not sum to 1; they are kept as given), plus each shared expert's weight
(1.0, or Qwen2-MoE's sigmoid gate). Hooks live for one run and are always removed.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from services.backends.transformers import moe_families
from services.models import local as local_models
from services.types import Routing

# a file a tiny test or demo model carries to say its weights are random (see weights_look_random)
RANDOM_MARKER = "RANDOM_WEIGHTS"


def find_routers(model) -> list[tuple[int, object]]:
    """(layer index, router module) for every MoE layer of a known family, in layer order."""
    return [(s.layer, s.router) for s in moe_families.find_sites(model)]


def has_routers(model) -> bool:
    """True when the loaded model is of a family we route and has routers."""
    return model is not None and bool(moe_families.find_sites(model))


def config_path(model: str) -> Path | None:
    """A local model's config.json (a folder, or an installed name), or None."""
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        folder = local_models.find("transformers", model) or folder
    path = folder / "config.json"
    return path if path.is_file() else None


def config_of(model: str) -> dict | None:
    """A local model's config.json as a dict, without loading weights."""
    path = config_path(model)
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        return None


def is_moe_config(cfg: dict) -> bool:
    """A config that describes a mixture of experts (any family)."""
    keys = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
    return cfg.get("model_type") in moe_families.FAMILIES or any(
        isinstance(cfg.get(k), int) and cfg.get(k) > 1 for k in keys)


def looks_moe(model: str) -> bool:
    """Cheap guess before loading: a routable family in config.json, else the name (no model load)."""
    cfg = config_of(model)
    if cfg is not None:
        return cfg.get("model_type") in moe_families.FAMILIES
    low = model.lower()
    return "moe" in low or "mixtral" in low


def unavailable_reason(model: str) -> str | None:
    """A sentence when a local model is a mixture of experts of a family we cannot route, else None."""
    cfg = config_of(model)
    if cfg is None or not is_moe_config(cfg) or cfg.get("model_type") in moe_families.FAMILIES:
        return None
    kind = cfg.get("model_type") or "this architecture"
    return (f"Routing is not available for {kind}: this app reads the routers of "
            f"{', '.join(sorted(moe_families.FAMILIES))} models.")


def weights_look_random(model) -> str | None:
    """Why the weights look random (a marker file, or routers still at their initial spread), else None.

    The marker is written by our tiny-model builders. The check covers random models made elsewhere:
    a fresh router is drawn from N(0, initializer_range), so its spread matches that value and its
    kurtosis is a normal's (3); trained routers drift from both. It reads only the router weights.
    """
    import torch

    folder = Path(str(getattr(model.config, "_name_or_path", "") or "."))
    if (folder / RANDOM_MARKER).is_file():
        return "the model folder is marked as holding random weights"
    std0 = float(getattr(model.config, "initializer_range", 0) or 0)
    weights = [p.detach().float().reshape(-1) for _, r in find_routers(model)
               for p in [getattr(r, "weight", None)] if isinstance(p, torch.Tensor)]
    if not weights or std0 <= 0:
        return None
    w = torch.cat(weights)
    if w.numel() < 64:
        return None
    std = float(w.std())
    kurtosis = float(((w - w.mean()) ** 4).mean() / (std ** 4 + 1e-30))
    if abs(std / std0 - 1) < 0.15 and abs(kurtosis - 3) < 1.0:
        return (f"the router weights still have their initial spread (std {std:.4f} vs initializer_range "
                f"{std0}) and a normal shape")
    return None


@dataclass
class _Step:
    """One forward call: its input token ids and, per layer, experts and weights per row."""

    start: int
    ids: list[int]
    layers: dict[int, tuple[list, list, int]] = field(default_factory=dict)
    shared: dict[int, list] = field(default_factory=dict)
    done: bool = False


class RoutingRecorder:
    """Records routing for a batch-1 generation; emits Routing events as steps complete."""

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.family = moe_families.family_of(model)
        self.sites = moe_families.find_sites(model)
        self.routers = [(s.layer, s.router) for s in self.sites]
        self.steps: list[_Step] = []
        self._handles: list = []
        self._emitted = 0
        self._position = 0
        self._lock = threading.Lock()

    def _decoder(self):
        return getattr(self.model, "base_model", None) or getattr(self.model, "model", self.model)

    def attach(self) -> None:
        """Register the hooks: decoder pre/post hooks frame a step; router hooks see the choices."""
        if self._handles:
            return

        def on_decoder(module, args, kwargs):
            ids = kwargs.get("input_ids")
            if ids is None and args:
                ids = args[0]
            ids = [] if ids is None else ids.reshape(-1).tolist()
            with self._lock:
                self.steps.append(_Step(self._position, ids))
                self._position += len(ids)

        def on_decoder_done(module, args, kwargs, output):
            with self._lock:
                if self.steps:
                    self.steps[-1].done = True

        def on_router(site):
            def hook(module, inputs, output):
                if not self.steps:
                    return
                experts, weights, n = moe_families.read(self.family, site, output)
                self.steps[-1].layers[site.layer] = (experts.detach().tolist(),
                                                     weights.detach().float().tolist(), n)
            return hook

        def on_shared_gate(site):
            def hook(module, inputs, output):
                if self.steps:
                    self.steps[-1].shared[site.layer] = output.detach().float().sigmoid().reshape(-1).tolist()
            return hook

        decoder = self._decoder()
        self._handles.append(decoder.register_forward_pre_hook(on_decoder, with_kwargs=True))
        self._handles.append(decoder.register_forward_hook(on_decoder_done, with_kwargs=True))
        for site in self.sites:
            self._handles.append(site.router.register_forward_hook(on_router(site)))
            if site.shared_gate is not None:
                self._handles.append(site.shared_gate.register_forward_hook(on_shared_gate(site)))

    def detach(self) -> None:
        """Remove every hook; safe to call twice."""
        while self._handles:
            self._handles.pop().remove()

    @property
    def hook_count(self) -> int:
        """Hooks currently registered by this recorder."""
        return len(self._handles)

    def generate_kwargs(self) -> dict:
        """A cache we keep hold of, so the last generated token can be routed after generate()."""
        from transformers import DynamicCache

        return {self._cache_arg(): DynamicCache(config=self.model.config)}

    def _cache_arg(self) -> str:
        # transformers 5.2x renamed past_key_values to cache; use whichever this version takes
        import inspect

        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def finish(self, sequence, cache) -> None:
        """Route the final generated token too: generate() samples it but never feeds it back."""
        import torch

        ids = sequence.reshape(-1)
        if cache is None or cache.get_seq_length() != ids.shape[0] - 1:
            return
        with torch.inference_mode():
            self.model(input_ids=ids[-1:].reshape(1, 1), use_cache=True, **{self._cache_arg(): cache})

    def _token(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id], skip_special_tokens=False)

    def _shared(self, step: _Step, site, row: int) -> tuple[float, ...]:
        if not site.shared:
            return ()
        gate = step.shared.get(site.layer)
        if gate is not None and row < len(gate):
            return (round(float(gate[row]), 6),)
        return (1.0,) * site.shared

    def drain(self) -> list[Routing]:
        """Routing events for every step completed since the last drain."""
        out: list[Routing] = []
        with self._lock:
            ready = list(self.steps[self._emitted:])
        sites = {s.layer: s for s in self.sites}
        for step in ready:
            if not step.done:
                break
            # one batched decode per step: the tokenizer's per-call overhead dominated long prompts
            texts = self.tokenizer.batch_decode([[i] for i in step.ids], skip_special_tokens=False) \
                if hasattr(self.tokenizer, "batch_decode") else [self._token(i) for i in step.ids]
            for row, text in enumerate(texts):
                for layer in sorted(step.layers):
                    experts, weights, n = step.layers[layer]
                    if row < len(experts):
                        out.append(Routing(text, layer, tuple(int(e) for e in experts[row]),
                                           tuple(round(float(w), 6) for w in weights[row]), step.start + row,
                                           self._shared(step, sites[layer], row), n))
            self._emitted += 1
        return out


def recorder_for(model, tokenizer, wanted: bool) -> RoutingRecorder | None:
    """A recorder when routing was asked for and the model has routers, else None."""
    return RoutingRecorder(model, tokenizer) if wanted and has_routers(model) else None


def hooked(recorder: RoutingRecorder | None):
    """Context manager: hooks on for the run, always removed afterwards."""
    if recorder is None:
        return nullcontext()

    @contextmanager
    def _scope():
        recorder.attach()
        try:
            yield recorder
        finally:
            recorder.detach()

    return _scope()


def finish(recorder: RoutingRecorder | None, sequence, kwargs: dict) -> None:
    """After generate(): route the last token with the cache generate() filled."""
    if recorder is not None:
        recorder.finish(sequence, kwargs.get("cache", kwargs.get("past_key_values")))


def drain(recorder: RoutingRecorder | None) -> list[Routing]:
    """Pending Routing events (none without a recorder)."""
    return recorder.drain() if recorder is not None else []


def release(recorder: RoutingRecorder | None) -> None:
    """Remove hooks if a run ended abnormally before its own cleanup."""
    if recorder is not None:
        recorder.detach()


def describe(model) -> dict:
    """What the routing page shows beside the charts for a loaded model."""
    family = moe_families.family_of(model)
    sites = moe_families.find_sites(model)
    return {"model_type": moe_families.model_type(model), "available": bool(sites),
            "scoring": family.scoring if family else "", "moe_layers": len(sites),
            "shared_experts": max((s.shared for s in sites), default=0),
            "shared_gated": any(s.shared_gate is not None for s in sites),
            "random_weights": weights_look_random(model) if sites else None}
