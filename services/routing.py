"""Expert routing of local MoE models: hooks on each layer's router, and what the records show.

In transformers 5.x, Phimoe (`model.model.layers[i].mlp.router`) and Mixtral (`...mlp.gate`) routers
are `*TopKRouter` modules returning (router_logits, routing_weights, selected_experts). A forward
hook on each records the chosen experts and their weights as the model used them (Phimoe's
sparsemixer weights do not sum to 1; they are kept as given). Hooks are removed after every run.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import BadRequest
from services.types import GenerationParams, Message, Routing

MOE_MODEL_TYPES = {"phimoe", "mixtral"}
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def find_routers(model) -> list[tuple[int, object]]:
    """(layer index, router module) for every MoE layer, in layer order."""
    out = []
    for name, module in model.named_modules():
        if type(module).__name__.endswith("TopKRouter"):
            m = _LAYER.search(name)
            if m:
                out.append((int(m.group(1)), module))
    return sorted(out, key=lambda pair: pair[0])


def has_routers(model) -> bool:
    """True when the loaded model has routers we can hook."""
    return model is not None and bool(find_routers(model))


def looks_moe(model: str) -> bool:
    """Cheap guess before loading: a local folder's config.json, else the name (no model load)."""
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        from services import local_models

        folder = local_models.find("transformers", model) or folder
    cfg = folder / "config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return data.get("model_type") in MOE_MODEL_TYPES or bool(data.get("num_local_experts"))
    low = model.lower()
    return "moe" in low or "mixtral" in low


@dataclass
class _Step:
    """One forward call: its input token ids and, per layer, experts and weights per row."""

    start: int
    ids: list[int]
    layers: dict[int, tuple[list, list]] = field(default_factory=dict)


class RoutingRecorder:
    """Records routing for a batch-1 generation; emits Routing events as steps complete."""

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.routers = find_routers(model)
        self.steps: list[_Step] = []
        self._handles: list = []
        self._emitted = 0
        self._position = 0
        self._lock = threading.Lock()

    def _decoder(self):
        return getattr(self.model, "model", self.model)

    def attach(self) -> None:
        """Register the hooks (the decoder pre-hook sees input ids; router hooks see choices)."""
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

        def on_router(layer):
            def hook(module, inputs, output):
                if not (isinstance(output, tuple) and len(output) == 3) or not self.steps:
                    return
                _, weights, experts = output
                self.steps[-1].layers[layer] = (experts.detach().reshape(experts.shape[0], -1).tolist(),
                                                weights.detach().float().reshape(weights.shape[0], -1).tolist())
            return hook

        self._handles.append(self._decoder().register_forward_pre_hook(on_decoder, with_kwargs=True))
        for layer, router in self.routers:
            self._handles.append(router.register_forward_hook(on_router(layer)))

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

    def drain(self) -> list[Routing]:
        """Routing events for every step completed since the last drain."""
        out: list[Routing] = []
        n_layers = len(self.routers)
        with self._lock:
            ready = [s for s in self.steps[self._emitted:]]
        for step in ready:
            if len(step.layers) < n_layers:
                break
            for row, token_id in enumerate(step.ids):
                text = self._token(token_id)
                for layer in sorted(step.layers):
                    experts, weights = step.layers[layer]
                    if row < len(experts):
                        out.append(Routing(text, layer, tuple(int(e) for e in experts[row]),
                                           tuple(round(float(w), 6) for w in weights[row]), step.start + row))
            self._emitted += 1
        return out


# --- the small hook the transformers backend calls (keeps its own change to a few lines) ---

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


# --- what the records show -------------------------------------------------------------------

def route_prompt(target: str, prompt: str, params: GenerationParams | None = None, *, system: str = ""):
    """Run one prompt with routing on; return the finished MeasuredStream (its .routing filled)."""
    from services.backends import get_backend
    from services.chat import resolve_target, start_chat

    t = resolve_target(target)
    if not get_backend(t.backend).capabilities(t.model).moe_routing:
        raise BadRequest(f"{t} has no expert routers to watch: routing needs a local MoE model in "
                         "transformers, for example transformers:/path/to/Phi-3.5-MoE-instruct.")
    messages = ([Message("system", system)] if system.strip() else []) + [Message("user", prompt)]
    stream = start_chat(t, messages, params or GenerationParams(temperature=0.0), routing=True)
    try:
        return stream.run()
    finally:
        stream.close()


def to_rows(events: list[Routing]) -> list[dict]:
    """One dict per token and layer: the `--routing` JSON shape."""
    return [{"position": e.position, "token": e.token, "layer": e.layer,
             "experts": list(e.experts), "weights": list(e.weights)} for e in events]


def to_json(events: list[Routing]) -> str:
    """Routing records as JSON text."""
    return json.dumps({"routing": to_rows(events)}, ensure_ascii=False, indent=1)


def to_csv(events: list[Routing]) -> str:
    """Routing records as CSV: one row per token and layer, experts and weights `;`-joined."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["position", "token", "layer", "experts", "weights"])
    for e in events:
        w.writerow([e.position, e.token, e.layer, ";".join(map(str, e.experts)), ";".join(map(str, e.weights))])
    return buf.getvalue()


def heatmap(events: list[Routing]) -> list[dict]:
    """Cells for a tokens x layers heatmap: the top-weighted expert per token and layer."""
    cells = []
    for e in events:
        if not e.experts:
            continue
        best = max(range(len(e.experts)), key=lambda i: e.weights[i] if i < len(e.weights) else 0.0)
        cells.append({"position": e.position, "token": e.token, "layer": e.layer, "expert": e.experts[best],
                      "weight": e.weights[best] if best < len(e.weights) else None,
                      "experts": ", ".join(map(str, e.experts))})
    return cells


def expert_load(events: list[Routing]) -> dict[int, dict[int, int]]:
    """For each layer, how many tokens chose each expert (every chosen expert counts once)."""
    load: dict[int, Counter] = {}
    for e in events:
        load.setdefault(e.layer, Counter()).update(e.experts)
    return {layer: dict(sorted(c.items())) for layer, c in sorted(load.items())}


def _shares(counts: dict[int, int], experts: list[int]) -> list[float]:
    total = sum(counts.values()) or 1
    return [counts.get(x, 0) / total for x in experts]


def routing_difference(a: list[Routing], b: list[Routing]) -> list[dict]:
    """Per layer: each prompt's share of tokens per expert and their total-variation distance."""
    la, lb = expert_load(a), expert_load(b)
    out = []
    for layer in sorted(set(la) | set(lb)):
        ca, cb = la.get(layer, {}), lb.get(layer, {})
        experts = sorted(set(ca) | set(cb))
        sa, sb = _shares(ca, experts), _shares(cb, experts)
        out.append({"layer": layer, "experts": experts, "share_a": [round(x, 4) for x in sa],
                    "share_b": [round(x, 4) for x in sb],
                    "distance": round(0.5 * sum(abs(x - y) for x, y in zip(sa, sb, strict=True)), 4)})
    return out
