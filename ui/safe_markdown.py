"""The one renderer for untrusted text: parse it as CommonMark, re-emit markdown in which every character of text is escaped."""

from __future__ import annotations

import re
import string
import time
from urllib.parse import quote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

# Why this is safe by construction, not by filtering: the text is parsed by a real CommonMark
# parser and the markdown handed to the browser is written from the parse tree. Every character of
# text content is backslash-escaped (all ASCII punctuation, which covers Streamlit's extras too:
# `:red[..]` and `:material/..:` directives, `$` LaTeX, `~`, `|`, `<`, `&`), so the browser's parser
# can find no construct in it; the only live markdown is what this module writes itself, and it
# never writes an image, raw HTML, or a link whose scheme is not http, https or mailto.

# Texts longer than this are shown verbatim in a code block, without parsing. markdown-it-py is pure
# Python and linear, but at up to ~20 µs a character on hostile input (measured on a loaded 2-core
# machine) a larger text would hold the interpreter for more than about 0.4 s.
MAX_FORMATTED = 20_000
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_TEXT = "[image not loaded: {}]"

# markdown-it drops what lies deeper than maxNesting, so a text that reaches it is shown unparsed;
# a higher limit would cost more: bracket runs are re-scanned once per level (100 levels: 5x slower)
_DEPTH = 20
_MD = MarkdownIt("commonmark", {"maxNesting": _DEPTH}).enable(["table", "strikethrough"])
# a backtick in text becomes an entity, so text can never lengthen a code span's backtick run
_ESCAPES = str.maketrans({c: "\\" + c for c in string.punctuation} | {"`": "&#96;"})
_LABEL = str.maketrans({c: "\\" + c for c in string.punctuation} | {"`": "&#96;", "\n": " ", "\r": " ", "\t": " "})
# characters kept as they are in an emitted link destination; anything else is percent-encoded
_URL_SAFE = "/:?#[]@!$'()*+,;=-._~%"


def plain(text) -> str:
    """One line of inert text for any markdown context: labels, captions, tooltips, f-strings."""
    return str("" if text is None else text).translate(_LABEL)


def _esc(text: str) -> str:
    out = text.translate(_ESCAPES)
    if "\n" in out:
        # a line that starts with spaces could open an indented code block or a list: keep the
        # indentation visible as no-break spaces, which no parser reads as structure
        out = "\n".join(_indent(line) for line in out.split("\n"))
    return out


def _indent(line: str) -> str:
    body = line.lstrip(" \t")
    lead = line[: len(line) - len(body)]
    return "&#160;" * (lead.count(" ") + 4 * lead.count("\t")) + body


def _longest_run(text: str, char: str) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if c == char else 0
        best = max(best, run)
    return best


def _safe_url(href: str) -> str | None:
    """The destination as it will be emitted, or None when its scheme is not allowed."""
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return None
    if scheme not in SAFE_SCHEMES:
        return None
    # percent-encoding leaves no space, angle bracket, backslash, pipe or backtick; `&` is escaped so
    # no entity can be read in it
    return quote(href, safe=_URL_SAFE + "&").replace("&", "\\&")


class _Writer:
    """Writes markdown from a markdown-it syntax tree; text always escaped, constructs chosen here."""

    def __init__(self) -> None:
        self.bullets = 0

    # ---- blocks: each returns a list of lines ----

    def blocks(self, nodes, tight: bool = False) -> list[str]:
        out: list[str] = []
        prev = None
        for node in nodes:
            lines = self.block(node, prev)
            if not lines:
                continue
            if out and not (tight and node.type not in ("paragraph", "html_block")):
                out.append("")
            out.extend(lines)
            prev = node
        return out

    def block(self, node, prev) -> list[str]:
        kind = node.type
        if kind == "paragraph":
            return self.inline(node.children[0] if node.children else None).split("\n")
        if kind == "heading":
            text = self.inline(node.children[0] if node.children else None, one_line=True)
            return ["#" * int(node.tag[1:]) + (" " + text if text else "")]
        if kind == "blockquote":
            return [("> " + line) if line else ">" for line in self.blocks(node.children)]
        if kind in ("bullet_list", "ordered_list"):
            return self.list_(node, prev)
        if kind in ("fence", "code_block"):
            return self.code(node.content, node.info if kind == "fence" else "")
        if kind == "html_block":
            return self.text_lines(node.content)
        if kind == "hr":
            return ["***"]
        if kind == "table":
            return self.table(node)
        # anything a future parser version adds is shown as its text, never as markup
        return self.text_lines(node.content) if node.content else self.blocks(node.children)

    def text_lines(self, text: str) -> list[str]:
        """Raw lines as escaped text: each line kept, blank lines as paragraph breaks."""
        raw = text.rstrip("\n").split("\n")
        out = []
        for i, line in enumerate(raw):
            if not line.strip():
                out.append("")
                continue
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            # a trailing backslash is a hard line break; escaped text always ends on a whole escape
            out.append(_indent(_esc(line)) + ("\\" if nxt.strip() else ""))
        return out

    def code(self, content: str, info: str) -> list[str]:
        fence = "`" * max(3, _longest_run(content, "`") + 1)
        lang = "".join(c for c in (info.split()[0] if info.strip() else "") if c.isalnum() or c in "_+-.#")[:30]
        body = content[:-1] if content.endswith("\n") else content
        return [fence + lang, *(body.split("\n") if body else []), fence]

    def list_(self, node, prev) -> list[str]:
        ordered = node.type == "ordered_list"
        # two lists in a row would merge if written with the same marker
        same_kind = prev is not None and prev.type == node.type
        self.bullets = (self.bullets + 1) if same_kind else 0
        bullet = "-*"[self.bullets % 2]
        delim = ".)"[self.bullets % 2]
        start = int(node.attrs.get("start", 1)) if ordered else 1
        items = node.children
        tight = any(p.type == "paragraph" and p.hidden for item in items for p in item.children)
        out: list[str] = []
        for i, item in enumerate(items):
            number = start + i if start + i < 10**9 else start
            marker = f"{number}{delim} " if ordered else f"{bullet} "
            saved = self.bullets
            inner = self.blocks(item.children, tight=tight)
            self.bullets = saved
            if out and not tight:
                out.append("")
            if not inner:
                out.append(marker.rstrip())
                continue
            pad = " " * len(marker)
            out.append(marker + inner[0])
            out.extend(pad + line if line else "" for line in inner[1:])
        return out

    def table(self, node) -> list[str]:
        rows, aligns = [], []
        for section in node.children:
            for tr in section.children:
                cells = []
                for cell in tr.children:
                    cells.append(self.inline(cell.children[0] if cell.children else None, one_line=True,
                                             in_table=True) or " ")
                    if cell.type == "th":
                        style = str(cell.attrs.get("style", ""))
                        aligns.append({"text-align:left": ":--", "text-align:center": ":-:",
                                       "text-align:right": "--:"}.get(style, "---"))
                rows.append("| " + " | ".join(cells) + " |")
        if not rows:
            return []
        return [rows[0], "| " + " | ".join(aligns) + " |", *rows[1:]]

    # ---- inline: returns one string (newlines only from line breaks) ----

    def inline(self, node, *, one_line: bool = False, in_table: bool = False) -> str:
        if node is None:
            return ""
        parts: list[str] = []
        self._inline_children(node.children, parts, one_line, in_table)
        return "".join(parts)

    def _inline_children(self, nodes, parts: list[str], one_line: bool, in_table: bool) -> None:
        for node in nodes:
            kind = node.type
            if kind == "text":
                parts.append(_esc(node.content))
            elif kind == "softbreak":
                # a line break the model wrote stays a line break (poems, addresses), as chat UIs show it
                parts.append(" " if one_line else "\\\n")
            elif kind == "hardbreak":
                parts.append(" " if one_line else "\\\n")
            elif kind == "code_inline":
                parts.append(self.code_span(node.content, in_table, parts))
            elif kind in ("em", "strong", "s"):
                mark = {"em": "*", "strong": "**", "s": "~~"}[kind]
                parts.append(mark)
                self._inline_children(node.children, parts, one_line, in_table)
                parts.append(mark)
            elif kind == "link":
                self.link(node, parts, one_line, in_table)
            elif kind == "image":
                parts.append(_esc(IMAGE_TEXT.format(self.alt(node) or "untitled")))
            elif kind == "html_inline":
                text = _esc(node.content)
                parts.append(text.replace("\n", " ") if one_line else text)
            else:
                # unknown inline nodes: their text, escaped
                parts.append(_esc(node.content) if node.content else "")
                self._inline_children(node.children, parts, one_line, in_table)

    def code_span(self, content: str, in_table: bool, parts: list[str]) -> str:
        if in_table and ("|" in content or "\\" in content):
            # in a table row a pipe splits cells before code spans are seen: keep it as plain text
            return _esc(content)
        ticks = "`" * (_longest_run(content, "`") + 1)
        pad = " " if content[:1] in ("`", " ") or content[-1:] in ("`", " ") else ""
        lead = " " if parts and parts[-1].endswith("`") else ""
        return f"{lead}{ticks}{pad}{content}{pad}{ticks}"

    def link(self, node, parts: list[str], one_line: bool, in_table: bool) -> None:
        href = str(node.attrs.get("href", ""))
        url = _safe_url(href)
        inner: list[str] = []
        self._inline_children(node.children, inner, one_line, in_table)
        text = "".join(inner) or _esc(href)
        if url is None:
            # not a web or mail link (javascript:, data:, a relative path): its text and where it pointed
            parts.append(text + _esc(f" ({href})") if href else text)
        else:
            parts.append(f"[{text}](<{url}>)")

    def alt(self, node) -> str:
        """An image's description as plain text."""
        out = []
        for child in node.walk(include_self=False):
            if child.type in ("text", "code_inline", "html_inline"):
                out.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                out.append(" ")
        return "".join(out)


_BACKTICKS = re.compile(r"`+")


def _long_text(text: str, why: str = f"longer than {MAX_FORMATTED:,} characters") -> str:
    """The text verbatim in a code block, fenced longer than any backtick run in it: linear, no parser.

    A code block is also what the browser renders fastest: 200 KB of hostile lines as escaped
    paragraphs took it 2 to 7 s, in a code block under 1 s (2 cores, load 5).
    """
    note = f"*Shown without formatting: {why}.*"
    fence = "`" * max(3, max(map(len, _BACKTICKS.findall(text)), default=0) + 1)
    body = text.replace("\x00", "\ufffd")
    return f"{note}\n\n{fence}\n{body}{'' if body.endswith(chr(10)) else chr(10)}{fence}"


def sanitize(text) -> str:
    """Markdown safe to hand to st.markdown: structure kept, no image, no HTML, no unsafe link."""
    text = "" if text is None else str(text)
    if len(text) > MAX_FORMATTED:
        return _long_text(text)
    tokens = _MD.parse(text)
    if any(t.level >= _DEPTH - 1 for t in tokens):
        return _long_text(text, f"nested {_DEPTH - 2} levels deep or more")
    tree = SyntaxTreeNode(tokens)
    return "\n".join(_Writer().blocks(tree.children))


def show(text, container=None) -> None:
    """Write untrusted text as sanitized markdown (never unsafe_allow_html)."""
    import streamlit as st

    (container or st).markdown(sanitize(text))


class LiveMarkdown:
    """A streaming answer's box: re-rendered at most every `every` s (and never more than a third
    of the time), so a long answer is not parsed again for every token."""

    def __init__(self, container, every: float = 0.1, cursor: str = " ▌"):
        self.box = container.empty()
        self.every = every
        self.cursor = cursor
        self.next_at = 0.0

    def update(self, text: str) -> None:
        """Show the text so far, unless the last render was too recent."""
        now = time.perf_counter()
        if now < self.next_at:
            return
        self.box.markdown(sanitize(text) + self.cursor)
        spent = time.perf_counter() - now
        self.next_at = now + max(self.every, 3 * spent)

    def final(self, text: str) -> None:
        """Show the whole text, without the cursor."""
        self.box.markdown(sanitize(text))

    def follow(self, answer) -> None:
        """Show a service's answer as it streams; leaving the loop, a Stop click's rerun too, closes it."""
        text = ""
        with answer:
            for piece in answer:
                text += piece
                self.update(text)
