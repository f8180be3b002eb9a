"""Results grouped by a test-data column (language, topic, difficulty): per group and target, the pass
rate with its 95% interval, counted as the per-target summaries count."""

from __future__ import annotations

from services.errors import BadRequest
from services.evaluate.stats import summarize
from services.evaluate.templating import as_text

# a row without the column is grouped under this
NO_VALUE = "(none)"
# groups past this many are not listed one by one (a column of free text is not a grouping)
MAX_GROUPS = 100


def columns(rec: dict) -> list[str]:
    """The test-data columns of a run, in the order the rows first name them."""
    seen: dict[str, None] = {}
    for t in rec["testResults"]:
        for key in t["testCase"]:
            seen.setdefault(key, None)
    return list(seen)


def _value(row: dict, column: str) -> str:
    value = row.get(column)
    text = as_text(value).strip() if value is not None else ""
    return text[:80] or NO_VALUE


def group_rows(rec: dict, column: str) -> list[dict]:
    """One row per group and target: group, target, passed, ran, passRate with its interval, errors, unscored."""
    have = columns(rec)
    if column not in have:
        shown = ", ".join(have) if have else "none"
        raise BadRequest(f"No test row has a column {column!r} to group by; the columns are: {shown}.")
    groups: dict[str, list[dict]] = {}
    for t in rec["testResults"]:
        groups.setdefault(_value(t["testCase"], column), []).append(t)
    if len(groups) > MAX_GROUPS:
        raise BadRequest(f"The column {column!r} has {len(groups):,} different values; group by a column with "
                         f"at most {MAX_GROUPS} (a language, a topic), not by free text.")
    out = []
    for group, trials in groups.items():
        for target in rec["targets"]:
            s = summarize([t for t in trials if t["target"] == target], rec["evaluators"])
            out.append({"group": group, "target": target, "passed": s["passed"], "ran": s["ran"],
                        "passRate": s["passRate"], "passRateLow": s["passRateLow"],
                        "passRateHigh": s["passRateHigh"], "errors": s["errors"], "unscored": s["unscored"]})
    return out
