"""What a person reads in markdown written by ui/safe_markdown.py: its backslash escapes and entities undone.

AppTest sees the markdown source of an element, not the page; assertions about wording compare
against this, so they keep reading like the sentence on screen.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def readable(markdown) -> str:
    """The text of escaped markdown as shown (one level of escapes removed)."""
    return _ESCAPE.sub(r"\1", str(markdown)).replace("&#96;", "`").replace("&#160;", "\u00a0")
