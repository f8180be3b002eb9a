"""The Phi table as markdown, and services/models/measured.toml from it."""

from __future__ import annotations

import datetime

from bench import harness
from services.models import measured

fmt = harness.fmt


def _sp(sp: list[float] | None, digits: int = 2) -> str:
    """'median (min-max)'; a dash when missing."""
    if not sp:
        return "-"
    if sp[0] == sp[2]:
        return fmt(sp[1], digits)
    return f"{fmt(sp[1], digits)} ({fmt(sp[0], digits)}-{fmt(sp[2], digits)})"


def cpu_name() -> str:
    """'<model name>, N cores', spelled as services/models/measured.py matches it against this machine."""
    return measured.machine_cpu()


def markdown(rep: dict) -> str:
    """Machine line, the decode table, prefill, memory, ratios and predictions."""
    m = rep["machine"]
    parts = [f"Machine: {m['cpu']}, read bandwidth {fmt(m['bandwidth_gbs'])} GB/s, load average "
             f"{m['load_before']} before / {m['load_after']} after, {m['rounds']} rounds, {fmt(m['seconds'], 0)} s. "
             f"Command: `{m['command']}`"]
    rows = rep["rows"]
    lead = summary(rows)
    if lead:
        parts.append(lead)
    parts.append(harness.table(
        ["Variant", "File MB", "Read MB/token", "Decode tok/s (min-max)", "Mean tok/s", "Bound tok/s", "Of bound", "Load s",
         "Threads", "Processes (load avg)", "How"],
        [[r["name"], fmt(r["file_mb"], 0), fmt(r["per_token_mb"], 0), _sp(r["decode_tps"]), _sp(r.get("decode_mean_tps")), fmt(r["bound_tps"]),
          fmt(r["fraction_of_bound"]), _sp(r["load_s"], 1), ",".join(map(str, r.get("threads") or [])) or "-",
          f"{r['processes']} ({', '.join(fmt(x, 1) for x in r['loads'])})" if r["loads"] else r["processes"],
          r["derived"] or "measured"]
         for r in rows]))
    sizes = sorted({int(n) for r in rows for n in r["prefill"]})
    parts.append(harness.table(
        ["Variant"] + [f"TTFT s / prefill tok/s at {n}" for n in sizes],
        [[r["name"]] + [f"{_sp(r['prefill'][str(n)]['ttft_s'])} / {fmt(r['prefill'][str(n)]['tps'][1], 1)}"
                        if str(n) in r["prefill"] else "-" for n in sizes] for r in rows]))
    parts.append(harness.table(
        ["Variant", "Peak RSS MB", "of it anon / file MB", "Weights MB", "KV MB (context)", "RSS / (weights + KV)",
         "Goal <= 1.2"],
        [[r["name"], _sp(r["hwm_mb"], 0),
          f"{fmt(r['rss_anon_mb'][1], 0)} / {fmt(r['rss_file_mb'][1], 0)}" if r.get("rss_anon_mb") else "-",
          fmt(r["file_mb"], 0), f"{fmt(r['kv_mb'], 0)} ({r['ctx']})",
          fmt(r["memory_ratio"]), "-" if r["memory_ratio"] is None else ("yes" if r["memory_ratio"] <= 1.2 else "NO")]
         for r in rows]))
    if rep["ratios"]:
        parts.append(harness.table(
            ["A / B decode", "Depth", "Ratio (per-round min-max)", "Bytes per token A / B", "How"],
            [[f"{x['a']} / {x['b']}", x["layers"], _sp([x["ratio_spread"][0], x["ratio"], x["ratio_spread"][2]])
              if x["ratio_spread"] else fmt(x["ratio"]), fmt(x["bytes_ratio"]), x["derived"] or "measured"]
             for x in rep["ratios"]]))
    if rep.get("slope_checks"):
        parts.append("Check of the slope method (measured at full depth / derived from the shallow depths): " + "; ".join(
            f"{c['name']} {fmt(c['measured_tps'])} / {fmt(c['derived_tps'])} tok/s = {fmt(c['ratio'])} ({c['how']})"
            for c in rep["slope_checks"]))
    if rep["efficiency"]:
        parts.append("Efficiency (decode / bound) used for predictions: " + "; ".join(
            f"{k} {fmt(v['efficiency'], 3)} from {v['from']}" for k, v in rep["efficiency"].items()))
    if rep["predictions"]:
        parts.append(harness.table(
            ["Variant", "Predicted tok/s", "Measured tok/s (min-max)", "Measured / predicted", "Within 25%"],
            [[p["name"], fmt(p["predicted_tps"]), _sp(p["measured_spread"]), fmt(p["ratio"]),
              "yes" if p["within_25pct"] else "NO"] for p in rep["predictions"]]))
    notes = [f"{r['name']}: {e}" for r in rows for e in r["errors"]] + rep.get("notes", [])
    if notes:
        parts.append("\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts) + "\n"


def summary(rows: list[dict]) -> str:
    """The lead table: each runtime:format at the reference model's deepest depth, measured before derived."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["model"] != "phi3-mini" or not r["decode_tps"]:
            continue
        cur = best.get(r["key"])
        if cur is None or (r["layers"], r["derived"] is None) > (cur["layers"], cur["derived"] is None):
            best[r["key"]] = r
    if not best:
        return ""
    longest = max((int(n) for r in best.values() for n in r["prefill"]), default=None)
    return harness.table(
        ["Phi-3-mini", "Layers", "Decode tok/s (min-max)", "Of bound", "Read MB/token",
         f"TTFT s at 128 / {longest}" if longest else "TTFT s", "Peak RSS / (weights + KV)", "How"],
        [[k, r["layers"], _sp(r["decode_tps"]), fmt(r["fraction_of_bound"]), fmt(r["per_token_mb"], 0),
          " / ".join(fmt(r["prefill"][str(n)]["ttft_s"][1], 1) if str(n) in r["prefill"] else "-"
                     for n in dict.fromkeys([128, longest])),
          fmt(r["memory_ratio"]), r["derived"] or "measured"]
         for k, r in sorted(best.items())])


def measured_toml(rep: dict) -> str:
    """services/models/measured.toml: this machine's bandwidth and each runtime:format's efficiency."""
    m = rep["machine"]
    lines = ["# Written by `python -m bench phi --write-measured` on this machine; see docs/performance.md.",
             "[machine]", f"bandwidth_gbs = {m['bandwidth_gbs']:.2f}", f'cpu = "{m["cpu"]}"',
             f'date = "{datetime.date.today().isoformat()}"', f'command = "{m["command"]}"',
             "[efficiency]   # measured decode tokens/s divided by the bandwidth bound, at Phi-3-mini shape"]
    for key, e in sorted(rep["efficiency"].items()):
        lines.append(f'"{key}" = {e["efficiency"]:.3f}   # {e["from"]}')
    return "\n".join(lines) + "\n"


def write_measured(rep: dict) -> str:
    """Write services/models/measured.toml, which services/models/measured.py reads; returns its path."""
    measured.MEASURED_FILE.write_text(measured_toml(rep))
    return str(measured.MEASURED_FILE)
