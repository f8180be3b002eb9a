"""Expert routing of local MoE models: run a prompt with routing on, and what the records show.

The hooks themselves live with the transformers backend (services/backends/transformers/moe_routing.py, routers
found per architecture by services/backends/transformers/moe_families.py); this module only asks for routing and
reads the records. Statistics are in services/reasoning/routing_stats.py.
"""

from __future__ import annotations

import functools
import json

from services.backends.transformers.moe_routing import (  # noqa: F401  (re-exported: callers read routing from here)
    RoutingRecorder,
    config_path,
    drain,
    find_routers,
    finish,
    has_routers,
    hooked,
    looks_moe,
    recorder_for,
    release,
    unavailable_reason,
)
from services.backends import get_backend
from services.backends.base import ExpertRouting
from services.backends.transformers import moe_sizes
from services.chat import resolve_target, start_chat
from services.csv_export import dicts_csv, rows_csv
from services.errors import BadRequest
from services.models import catalog
from services.reasoning.routing_stats import expert_load, layer_stats, specialisation, summary  # noqa: F401
from services.types import GenerationParams, Message, Routing, Target, TargetInfo

# --- what the records show -------------------------------------------------------------------

RANDOM_NOTE = ("These weights are random (a test or demo model): which expert a token goes to is noise, "
               "so the patterns below mean nothing about the model family.")


def is_moe(info: TargetInfo) -> bool:
    """MoE targets: routers we can hook locally, or a Phi-3.5-MoE endpoint in the cloud."""
    return info.capabilities.moe_routing or "moe" in info.target.lower()


def family_reason(t: Target) -> str | None:
    """Why a local transformers mixture of experts cannot be routed (its family), else None."""
    return unavailable_reason(t.model) if t.backend == "transformers" else None


def check_routable(t: Target) -> None:
    """A clear sentence when this target cannot report routing."""
    if get_backend(t.backend).capabilities(t.model).moe_routing:
        return
    raise BadRequest(family_reason(t) or f"{t} has no expert routers to watch: routing needs a local MoE model in "
                     "transformers, for example transformers:phi-tiny-moe-instruct (download it on the Models page).")


def route_prompt(target: str, prompt: str, params: GenerationParams | None = None, *, system: str = ""):
    """Run one prompt with routing on; return its outcome (.routing filled), or raise its failure."""
    t = resolve_target(target)
    check_routable(t)
    messages = ([Message("system", system)] if system.strip() else []) + [Message("user", prompt)]
    answer = start_chat(t, messages, params or GenerationParams(temperature=0.0), routing=True)
    answer.text()
    return answer.outcome


def model_info(target: str) -> dict:
    """Family, scoring, shared experts, the random-weights note and sizes of a local MoE target."""
    t = resolve_target(target)
    backend = get_backend(t.backend)
    info = backend.routing_info(t.model) if isinstance(backend, ExpertRouting) else {}
    return dict(info or {}, target=str(t))


@functools.lru_cache(maxsize=32)
def _config_sizes(folder: str, mtime: float) -> dict:
    return moe_sizes.counts_from_config(folder)


def target_sizes(target: str) -> dict | None:
    """Total/active parameters and weight bytes of a MoE target, without loading it (None when unknown).

    A local transformers folder: counted from its config on the meta device (cached per config file).
    Anything else: the catalog's numbers for that model, when it is a MoE one.
    """
    t = resolve_target(target)
    if t.backend == "transformers" and looks_moe(t.model):
        cfg = config_path(t.model)
        if cfg is not None:
            try:
                return _config_sizes(str(cfg.parent), cfg.stat().st_mtime)
            except Exception:  # noqa: BLE001  a config transformers cannot build: show nothing, never fail the page
                return None
    entry = catalog.guess(t.model)
    if entry is None or not entry.moe or not entry.active_params_b:
        return None
    total = int(entry.params_b * 1e9)
    return {"total_params": total, "active_params": int(entry.active_params_b * 1e9),
            "weight_bytes": {"float32": 4 * total, "bfloat16": 2 * total}}


def report(target: str, events: list[Routing], other: list[Routing] | None = None) -> dict:
    """The `moe --routing --json` fields: records, statistics, the model, and a second prompt's comparison."""
    out = {"routing": to_rows(events), "routing_stats": summary(events), "routing_model": model_info(target)}
    if other is not None:
        out["routing_vs"] = {"routing": to_rows(other), "routing_stats": summary(other)}
        out["routing_difference"] = routing_difference(events, other)
    return out


def to_rows(events: list[Routing]) -> list[dict]:
    """One dict per token and layer: the `--routing` JSON shape (`shared` only where a layer has them)."""
    rows = []
    for e in events:
        row = {"position": e.position, "token": e.token, "layer": e.layer,
               "experts": list(e.experts), "weights": list(e.weights)}
        if e.shared:
            row["shared"] = list(e.shared)
        rows.append(row)
    return rows


def to_json(events: list[Routing], info: dict | None = None) -> str:
    """Routing records as JSON text, with the per-layer statistics and what the model is."""
    out = {"routing": to_rows(events), "stats": summary(events)}
    if info:
        out["model"] = info
    return json.dumps(out, ensure_ascii=False, indent=1)


def to_csv(events: list[Routing]) -> str:
    """Routing records as CSV: one row per token and layer, experts and weights `;`-joined."""
    return rows_csv(["position", "token", "layer", "experts", "weights", "shared"],
                    ([e.position, e.token, e.layer, ";".join(map(str, e.experts)), ";".join(map(str, e.weights)),
                      ";".join(map(str, e.shared))] for e in events))


def stats_csv(events: list[Routing]) -> str:
    """Per-layer statistics as CSV (entropy, load CV, busiest expert)."""
    rows = layer_stats(events)
    return dicts_csv(list(rows[0]), rows) if rows else ""


def heatmap(events: list[Routing]) -> list[dict]:
    """Cells for a tokens x layers heatmap: the top-weighted expert per token and layer."""
    cells = []
    for e in events:
        if not e.experts:
            continue
        best = max(range(len(e.experts)), key=lambda i: e.weights[i] if i < len(e.weights) else 0.0)
        cells.append({"position": e.position, "token": e.token, "layer": e.layer, "expert": e.experts[best],
                      "weight": e.weights[best] if best < len(e.weights) else None,
                      "experts": ", ".join(map(str, e.experts)),
                      "shared": ", ".join(f"{w:g}" for w in e.shared) or "none"})
    return cells


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
