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


def _decided(result: dict) -> bool:
    # runs stored before every score was a number mark an undecided verdict with score None
    return result.get("status", "") != "unscored" and result["score"] is not None


def summarize(trials: list[dict], evaluator_names: list[str]) -> dict:
    """One target's (or one group's) numbers from its trials (dicts as Trial.to_dict writes them).

    A trial passes when every evaluator passed, as gh models eval counts a case; a failed evaluator,
    one that could not decide (unscored) and a model call that failed (error) all count as not
    passed, and are counted apart. The pass rate is over the trials that ran (Stop's cancelled ones
    did not), with its 95% Wilson interval.
    """
    counts = {s: sum(1 for t in trials if t["status"] == s) for s in ("pass", "fail", "unscored", "error", "cancelled")}
    ran = len(trials) - counts["cancelled"]
    low, high = wilson(counts["pass"], ran)
    answered = [t for t in trials if t["status"] not in ("error", "cancelled")]
    scores = {}
    for name in evaluator_names:
        mine = [r for t in answered for r in t["evaluationResults"] if r["evaluatorName"] == name]
        vals = [r["score"] for r in mine if _decided(r)]
        scores[name] = {"mean": _mean(vals), "n": len(vals), "unscored": len(mine) - len(vals)}
    # answers checked against a JSON response format (None on text runs and on runs stored before)
    checked = [t.get("schemaValid") for t in answered if t.get("schemaValid") is not None]
    metric = lambda key: _mean(t["metrics"].get(key) for t in answered)  # noqa: E731
    return {
        "trials": len(trials), "ran": ran, "passed": counts["pass"], "failed": counts["fail"],
        "unscored": counts["unscored"], "errors": counts["error"], "cancelled": counts["cancelled"],
        "graded": counts["pass"] + counts["fail"],
        "passRate": round(counts["pass"] / ran, 4) if ran else None,
        "passRateLow": round(low, 4) if low is not None else None,
        "passRateHigh": round(high, 4) if high is not None else None,
        "evaluators": scores,
        "schemaChecked": len(checked), "schemaValid": sum(1 for v in checked if v),
        "meanLatencyS": metric("total_s"), "meanTtftS": metric("ttft_s"),
        "meanPromptTokens": metric("prompt_tokens"), "meanCompletionTokens": metric("completion_tokens"),
    }
