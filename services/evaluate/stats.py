"""Honest numbers per target: pass rate with a 95% Wilson interval, mean scores, latency and tokens."""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import fmean

# the two-sided 95% normal quantile
Z95 = 1.959963984540054


def wilson(passed: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """The Wilson score interval for passed/n; (None, None) when nothing was graded.

    Unlike p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and is not zero-width at 0/n or n/n,
    which is where small evaluations live.
    """
    if n <= 0:
        return None, None
    if not 0 <= passed <= n:
        raise ValueError(f"passed must be between 0 and n ({passed}/{n}).")
    p = passed / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def _mean(values: Iterable) -> float | None:
    vals = [v for v in values if v is not None]
    return round(fmean(vals), 4) if vals else None


def summarize(trials: list[dict], evaluator_names: list[str]) -> dict:
    """One target's numbers from its trials (dicts as Trial.to_dict writes them)."""
    counts = {s: sum(1 for t in trials if t["status"] == s) for s in ("pass", "fail", "unscored", "error", "cancelled")}
    graded = counts["pass"] + counts["fail"]
    low, high = wilson(counts["pass"], graded)
    answered = [t for t in trials if t["status"] not in ("error", "cancelled")]
    scores = {}
    for name in evaluator_names:
        vals = [r["score"] for t in answered for r in t["evaluationResults"]
                if r["evaluatorName"] == name and r["score"] is not None]
        unscored = sum(1 for t in answered for r in t["evaluationResults"]
                       if r["evaluatorName"] == name and r["score"] is None)
        scores[name] = {"mean": _mean(vals), "n": len(vals), "unscored": unscored}
    # answers checked against a JSON response format (None on text runs and on runs stored before)
    checked = [t.get("schemaValid") for t in answered if t.get("schemaValid") is not None]
    metric = lambda key: _mean(t["metrics"].get(key) for t in answered)  # noqa: E731
    return {
        "trials": len(trials), "passed": counts["pass"], "failed": counts["fail"], "unscored": counts["unscored"],
        "errors": counts["error"], "cancelled": counts["cancelled"], "graded": graded,
        "passRate": round(counts["pass"] / graded, 4) if graded else None,
        "passRateLow": round(low, 4) if low is not None else None,
        "passRateHigh": round(high, 4) if high is not None else None,
        "evaluators": scores,
        "schemaChecked": len(checked), "schemaValid": sum(1 for v in checked if v),
        "meanLatencyS": metric("total_s"), "meanTtftS": metric("ttft_s"),
        "meanPromptTokens": metric("prompt_tokens"), "meanCompletionTokens": metric("completion_tokens"),
    }
