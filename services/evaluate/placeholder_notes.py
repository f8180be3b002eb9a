"""The placeholders a prompt file leaves as written (no test row fills them), said once per file."""

from __future__ import annotations

from services.evaluate.judges import BUILTIN_INPUTS
from services.evaluate.templating import placeholders

# at most this many placeholders are named in the sentence
MAX_NAMED = 12


def _templates(pf) -> list[tuple[str, str, frozenset]]:
    """(place, template, keys filled besides the row) for every text templated with a test row."""
    out = [(f"messages item {n}", m["content"], frozenset()) for n, m in enumerate(pf.messages, 1)]
    for e in pf.evaluators:
        place = f"evaluator {e.name!r}"
        if e.kind == "llm":
            out.append((place, e.config["prompt"], frozenset({"completion"})))
        elif e.kind == "uses":
            needs = BUILTIN_INPUTS[e.config.removeprefix("github/")]
            out.append((f"{place} ({e.config})", "".join(f"{{{{{k}}}}}" for k in needs), frozenset()))
        elif isinstance(e.config, dict):
            texts = [v for k, v in e.config.items() if isinstance(v, str) and k != "pattern"]
            out.extend((place, t, frozenset()) for t in texts)
    return out


def _rows_said(rows: set[int], total: int) -> str:
    if len(rows) == total:
        return ""
    listed = sorted(rows)
    shown = ", ".join(str(r) for r in listed[:5]) + (" …" if len(listed) > 5 else "")
    return f", rows {shown}" if len(listed) > 1 else f", row {shown}"


def placeholder_notices(pf) -> list[str]:
    """Sentences about placeholders no row fills, `{{ key }}` written with spaces, and a file with no rows."""
    rows = pf.rows()
    templates = [(place, placeholders(t), extra) for place, t, extra in _templates(pf)]
    if not rows:
        names = list(dict.fromkeys(p for place, found, _ in templates if place.startswith("messages") for p in found))
        said = f"; its placeholders ({', '.join('{{' + n + '}}' for n in names[:MAX_NAMED])}) take their values " \
               "from them" if names else ""
        return ["This file has no test rows (testData), so no case runs, as with gh models eval: give rows with "
                f"--data FILE (.jsonl or .csv) or the Evaluate page's test-data upload{said}."]
    unfilled: dict[str, dict[str, set[int]]] = {}
    spaces: dict[str, str] = {}
    for place, found, extra in templates:
        if not found:
            continue
        for n, row in enumerate(rows, 1):
            have = set(row) | extra
            for name in found:
                if name in have:
                    continue
                if name.strip() != name and name.strip() in have:
                    spaces.setdefault(name, place)
                else:
                    unfilled.setdefault(name, {}).setdefault(place, set()).add(n)
    out = []
    if unfilled:
        parts = []
        for name, places in list(unfilled.items())[:MAX_NAMED]:
            where = "; ".join(f"{place}{_rows_said(r, len(rows))}" for place, r in places.items())
            parts.append(f"{{{{{name}}}}} ({where})")
        more = f" and {len(unfilled) - MAX_NAMED} more" if len(unfilled) > MAX_NAMED else ""
        out.append("Left in the text as written, as gh models eval leaves them, because no test row gives a "
                   f"value: {', '.join(parts)}{more}.")
    for name, place in spaces.items():
        out.append(f"{{{{{name}}}}} in {place} has spaces inside the braces, so it stays as written (gh models "
                   f"eval replaces only {{{{{name.strip()}}}}}); write it without the spaces.")
    return out
