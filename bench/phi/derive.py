"""Full-depth figures from two shallower depths (per-layer slope), efficiencies, and predictions against measurements.

Per token, a decoder's time is a fixed part (embedding, output layer, sampling, the loop) plus the
same cost for every layer, so seconds per token at depth L is a + b*L: two depths A < B give b, and
depth T is t(B) + b*(T - B). Prefill time, resident memory and bytes per token extrapolate the same way.
"""

from __future__ import annotations

from bench import harness
from services.models import bandwidth

REFERENCE = "phi3-mini"


def _line(a: float, b: float, la: int, lb: int, lt: int) -> float:
    return b + (b - a) / (lb - la) * (lt - lb)


def extrapolate(lo: dict, hi: dict, depth: int, gbs: float) -> dict:
    """A row at `depth` from rows at two shallower depths, round by round where both rounds ran."""
    la, lb = lo["layers"], hi["layers"]
    if 1.0 / hi["decode_tps"][1] <= 1.0 / lo["decode_tps"][1]:
        return None  # the deeper model measured no slower: load noise, no slope to extend
    per_round = {}
    for r, tps_b in hi["per_round_decode"].items():
        tps_a = lo["per_round_decode"].get(r)
        if tps_a and tps_b < tps_a:  # a round whose pair has a slope
            per_round[r] = 1.0 / _line(1.0 / tps_a, 1.0 / tps_b, la, lb, depth)
    decode = harness.spread(list(per_round.values())) or [1.0 / _line(
        1.0 / lo["decode_tps"][1], 1.0 / hi["decode_tps"][1], la, lb, depth)] * 3
    prefill = {}
    for n, hi_p in hi["prefill"].items():
        lo_p = lo["prefill"].get(n)
        if lo_p and lo_p["ttft_s"] and hi_p["ttft_s"] and hi_p["ttft_s"][1] > lo_p["ttft_s"][1]:
            ttft = _line(lo_p["ttft_s"][1], hi_p["ttft_s"][1], la, lb, depth)
            prefill[n] = {"ttft_s": [ttft] * 3, "tps": [int(n) / ttft] * 3}
    per_token = _line(lo["per_token_mb"], hi["per_token_mb"], la, lb, depth)
    file_mb = _line(lo["file_mb"], hi["file_mb"], la, lb, depth)
    kv = hi["kv_mb"] / lb * depth
    hwm = _line(lo["hwm_mb"][1], hi["hwm_mb"][1], la, lb, depth) if lo["hwm_mb"] and hi["hwm_mb"] else None
    bound = bandwidth.bound_tokens_per_s(per_token * 1e6, gbs)
    name = hi["name"].replace(f" L{lb} ", f" L{depth} ") + " (slope)"
    return {
        "name": name, "model": hi["model"], "layers": depth, "key": hi["key"], "path": None,
        "file_mb": file_mb, "per_token_mb": per_token, "active_fraction": hi["active_fraction"],
        "decode_tps": decode, "per_round_decode": per_round, "prefill": prefill,
        "load_s": [_line(lo["load_s"][1], hi["load_s"][1], la, lb, depth)] * 3 if lo["load_s"] and hi["load_s"] else None,
        "rss_load_mb": None, "hwm_mb": [hwm] * 3 if hwm else None, "ctx": hi["ctx"], "kv_mb": kv,
        "bound_tps": bound, "processes": min(lo["processes"], hi["processes"]), "loads": [], "errors": [],
        "derived": f"from L{la} and L{lb} (per-layer slope)",
        "fraction_of_bound": decode[1] / bound if decode else None,
        "memory_ratio": hwm / (file_mb + kv) if hwm else None,
    }


def slope_rows(rows: list[dict], depth: int, gbs: float) -> list[dict]:
    """For each model and runtime:format measured at two or more depths below `depth`, the derived row at it."""
    out = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r["decode_tps"] and r["derived"] is None:
            groups.setdefault((r["model"], r["key"]), []).append(r)
    for (_model, _key), group in groups.items():
        shallow = sorted((r for r in group if r["layers"] < depth), key=lambda r: r["layers"])
        if len(shallow) >= 2:
            row = extrapolate(shallow[-2], shallow[-1], depth, gbs)
            if row:
                out.append(row)
    return out


def efficiencies(rows: list[dict], depth: int) -> dict[str, dict]:
    """Per runtime:format, measured decode / bound at the Phi-3-mini shape: the full-depth row when there is one
    (measured before derived), else the deepest measured."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["model"] != REFERENCE or not r["fraction_of_bound"]:
            continue
        rank = (r["layers"] == depth, r["derived"] is None, r["layers"])
        cur = best.get(r["key"])
        if cur is None or rank > (cur["layers"] == depth, cur["derived"] is None, cur["layers"]):
            best[r["key"]] = r
    return {k: {"efficiency": r["fraction_of_bound"], "from": r["name"] + (f" ({r['derived']})" if r["derived"] else "")}
            for k, r in best.items()}


def predictions(rows: list[dict], effs: dict[str, dict]) -> list[dict]:
    """Every measured row but the one its runtime's efficiency came from: predicted, measured, their ratio."""
    out = []
    for r in rows:
        e = effs.get(r["key"])
        if not e or not r["decode_tps"] or r["derived"] or e["from"].startswith(r["name"]):
            continue
        pred = e["efficiency"] * r["bound_tps"]
        ratio = r["decode_tps"][1] / pred
        out.append({"name": r["name"], "predicted_tps": pred, "measured_tps": r["decode_tps"][1],
                    "measured_spread": r["decode_tps"], "ratio": ratio, "within_25pct": abs(ratio - 1) <= 0.25})
    return out


def slope_checks(rows: list[dict]) -> list[dict]:
    """Where a variant was both measured at full depth and derived from shallow depths: how close the slope came."""
    measured = {(r["model"], r["layers"], r["key"]): r for r in rows if r["derived"] is None}
    out = []
    for d in rows:
        m = measured.get((d["model"], d["layers"], d["key"]))
        if d["derived"] and m and m["decode_tps"] and d["decode_tps"]:
            out.append({"name": m["name"], "measured_tps": m["decode_tps"][1], "derived_tps": d["decode_tps"][1],
                        "ratio": m["decode_tps"][1] / d["decode_tps"][1], "how": d["derived"]})
    return out


def ratio_rows(rows: list[dict], a_key: str, b_key: str) -> list[dict]:
    """a/b decode per model and depth where both ran, with the spread of the per-round ratios."""
    out = []
    # a measured row wins over one derived for the same variant
    index = {(r["model"], r["layers"], r["key"]): r for r in sorted(rows, key=lambda r: r["derived"] is None)}
    for (model, layers, key), a in index.items():
        b = index.get((model, layers, b_key))
        if key != a_key or not b or not a["decode_tps"] or not b["decode_tps"]:
            continue
        per_round = [a["per_round_decode"][k] / b["per_round_decode"][k]
                     for k in a["per_round_decode"] if k in b["per_round_decode"]]
        out.append({"model": model, "layers": layers, "a": a["name"], "b": b["name"],
                    "ratio": a["decode_tps"][1] / b["decode_tps"][1], "ratio_spread": harness.spread(per_round),
                    "bytes_ratio": a["per_token_mb"] / b["per_token_mb"],
                    "derived": a["derived"] or b["derived"]})
    return out
