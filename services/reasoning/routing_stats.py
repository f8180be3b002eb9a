"""What routing records say, per layer: expert load, entropy, load balance and expert specialisation.

Definitions (per layer, over the token-expert choices of one run; shared experts are left out because
every token uses them):
- load of expert e: how many tokens chose it (each of a token's top-k counts once);
- entropy: H = -sum p_e log2 p_e with p_e = load_e / total load, in bits; `entropy_norm` divides by
  log2(n_experts), so 1 means the tokens were spread evenly over every expert, 0 that one took all;
- load balance: the coefficient of variation of the loads over all n_experts (unused ones count as
  0): population std / mean; 0 is perfectly even, higher is more lopsided;
- specialisation: for each expert, the tokens it took most often (at most TOP_TOKENS of them).
"""

from __future__ import annotations

import math
from collections import Counter

from services.types import Routing

# tokens listed per expert; the specialisation table grows with layers x experts x this
TOP_TOKENS = 5


def expert_load(events: list[Routing]) -> dict[int, dict[int, int]]:
    """For each layer, how many tokens chose each expert (every chosen expert counts once)."""
    load: dict[int, Counter] = {}
    for e in events:
        load.setdefault(e.layer, Counter()).update(e.experts)
    return {layer: dict(sorted(c.items())) for layer, c in sorted(load.items())}


def _n_experts(events: list[Routing], layer: int, counts: dict[int, int]) -> int:
    # the router's own width when recorded; else the highest expert seen (a lower bound)
    known = max((e.n_experts for e in events if e.layer == layer), default=0)
    return max(known, max(counts, default=-1) + 1)


def entropy_bits(counts: list[int]) -> float:
    """Shannon entropy (bits) of a load vector; 0 for an empty one."""
    total = sum(counts)
    if total <= 0:
        return 0.0
    return -sum((c / total) * math.log2(c / total) for c in counts if c > 0)


def coefficient_of_variation(counts: list[int]) -> float:
    """Population std / mean of a load vector (0 when even or empty)."""
    if not counts:
        return 0.0
    mean = sum(counts) / len(counts)
    if mean == 0:
        return 0.0
    return math.sqrt(sum((c - mean) ** 2 for c in counts) / len(counts)) / mean


def layer_stats(events: list[Routing]) -> list[dict]:
    """Per layer: tokens, experts used of n, entropy (bits and normalised), load CV, busiest expert."""
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} for row in _layer_rows(events)]


def _layer_rows(events: list[Routing]) -> list[dict]:
    out = []
    for layer, counts in expert_load(events).items():
        n = _n_experts(events, layer, counts)
        vector = [counts.get(x, 0) for x in range(n)]
        tokens = sum(1 for e in events if e.layer == layer)
        h = entropy_bits(vector)
        busiest = max(counts, key=lambda x: (counts[x], -x)) if counts else None
        shared = max((len(e.shared) for e in events if e.layer == layer), default=0)
        out.append({"layer": layer, "tokens": tokens, "n_experts": n, "experts_used": sum(1 for c in vector if c),
                    "entropy_bits": h, "entropy_norm": h / math.log2(n) if n > 1 else 0.0,
                    "load_cv": coefficient_of_variation(vector), "busiest_expert": busiest,
                    "busiest_share": counts[busiest] / sum(vector) if busiest is not None else 0.0,
                    "shared_experts": shared})
    return out


def specialisation(events: list[Routing], top: int = TOP_TOKENS) -> list[dict]:
    """Per layer and expert: its load and the tokens it took most often, with counts."""
    by_expert: dict[tuple[int, int], Counter] = {}
    for e in events:
        for x in e.experts:
            by_expert.setdefault((e.layer, x), Counter())[e.token] += 1
    out = []
    for (layer, expert), tokens in sorted(by_expert.items()):
        # ties broken by the token text so the table is the same on every run
        best = sorted(tokens.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        out.append({"layer": layer, "expert": expert, "load": sum(tokens.values()),
                    "top_tokens": [{"token": t, "count": n} for t, n in best]})
    return out


def summary(events: list[Routing]) -> dict:
    """Everything the page and `moe --routing --json` show about one run's routing."""
    raw = _layer_rows(events)
    n = len(raw) or 1
    return {"records": len(events), "positions": len({e.position for e in events}), "layers": layer_stats(events),
            "mean_entropy_norm": round(sum(s["entropy_norm"] for s in raw) / n, 4),
            "mean_load_cv": round(sum(s["load_cv"] for s in raw) / n, 4),
            "specialisation": specialisation(events)}
