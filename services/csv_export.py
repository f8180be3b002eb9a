"""CSV files whose cells are data: every export writes through here, so no cell can become a formula.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (and some read a leading tab or carriage
return the same way). As OWASP's CSV-injection guidance says, such a text cell is written with a leading
single quote, which spreadsheets show as text; headers too. Numbers stay numbers: a Python number, and a
text that is only a plain decimal number ("-3", "2.5e-3"), which no spreadsheet reads as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# linear: no quantifier is nested in or overlaps another
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def cell(value):
    """The value as it may go into a CSV cell: text that a spreadsheet would run gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def rows_csv(header: Sequence, rows: Iterable[Sequence]) -> str:
    """CSV text of a header line and rows of values (lists), every cell made inert."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([cell(h) for h in header])
    for row in rows:
        w.writerow([cell(v) for v in row])
    return buf.getvalue()


def dicts_csv(fieldnames: Sequence[str], rows: Iterable[Mapping]) -> str:
    """CSV text of rows given as maps (missing keys are empty cells, keys not in fieldnames are left out)."""
    return rows_csv(fieldnames, ([row.get(f, "") for f in fieldnames] for row in rows))
