"""The untrusted-text renderer: payload classes re-parsed by an independent CommonMark parser find nothing live."""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest
from markdown_it import MarkdownIt

from ui.safe_markdown import MAX_FORMATTED, SAFE_SCHEMES, plain, sanitize

URL = "http://127.0.0.1:9/exfil?q=secret"
# a second, independently configured parser: commonmark plus the GFM parts Streamlit's frontend has
CHECK = MarkdownIt("commonmark").enable(["table", "strikethrough"])

PAYLOADS = {
    "nested brackets in alt": f"![a [b] [c [d]] e]({URL})",
    "escaped bracket in alt": f"![a \\] b]({URL}) and ![\\[]({URL})",
    "reference, definition after": f"![x][r]\n\n[r]: {URL}",
    "reference, definition before": f"[r]: {URL}\n\n![x][r]",
    "shortcut reference": f"look ![r] here\n\n[r]: {URL} \"t\"",
    "collapsed reference": f"![r][]\n\n[r]: <{URL}>",
    "reference with a javascript definition": "[go][j]\n\n[j]: javascript:alert(1)",
    "autolinks": f"<javascript:alert(1)> <data:text/html,<script>x</script>> <vbscript:x> <{URL}> <a@b.example>",
    "angle-bracket destinations": f"![x](<{URL} y>) [a](<javascript:alert(1)>) [b](<data:text/html;base64,PHNjcmlwdD4=>)",
    "html entities": f"&#33;[x]({URL}) &lt;img src={URL}&gt; &#x21;[y]({URL}) [z](java&#115;cript:alert(1))",
    "backtick fence": f"```\n![x]({URL})\n```\n![after]({URL})",
    "tilde fence": f"~~~ md\n![x]({URL})\n~~~\n![after]({URL})",
    "indented code": f"    ![x]({URL})\n\n![after]({URL})",
    "fence not at line start": f"text ~~~\n![x]({URL})\n~~~ and ```\n![y]({URL})\n```",
    "unbalanced backticks before an image": f"``` `` ` ![x]({URL}) `` ![y]({URL})",
    "image inside a link": f"[![x]({URL})]({URL}/2) [![y][r]](http://ok.example)\n\n[r]: {URL}",
    "link titles": f"[a](http://ok.example \"![x]({URL})\") ![t]({URL} 'title')",
    "line breaks inside alt": f"![a\nb]({URL}) ![c  \nd]({URL}) ![e\\\nf]({URL})",
    "streamlit directives": f":red[![x]({URL})] :material/home: :blue-badge[hi] :small[![y]({URL})]",
    "latex": f"$\\href{{{URL}}}{{x}}$ $$\\includegraphics{{{URL}}}$$ $![x]({URL})$",
    "raw html": f"<img src={URL} onerror=alert(1)> <script>alert(1)</script> <svg/onload=alert(2)> "
                "<iframe src=javascript:alert(3)></iframe>",
    "html block": f"<div onclick=alert(1)>\n<img src=\"{URL}\">\n</div>\n\n<!-- ![x]({URL}) -->",
    "tables": f"| h | ![x]({URL}) |\n|---|---|\n| `a|![y]({URL})` | <img src={URL}> |",
    "containers": f"> ![x]({URL})\n> - ![y]({URL})\n\n1. [a](javascript:x)\n   > <b>b</b>",
    "footnote-like": f"text[^1]\n\n[^1]: {URL}",
    "double escapes": f"\\\\![x]({URL}) \\![y]({URL}) \\\\\\![z]({URL})",
    "emphasis around images": f"*![x]({URL})* **![y]({URL})** ~~![z]({URL})~~ _a_![w]({URL})",
    "many opens": f"{'[x](' * 200}![x]({URL}) {'![' * 200}]({URL})",
}


def tokens(markdown: str):
    """Every token the checking parser finds, inline children included."""
    for tok in CHECK.parse(markdown):
        yield tok
        yield from tok.children or ()


def assert_inert(markdown: str) -> None:
    """No image, no raw HTML, no link whose scheme is not http, https or mailto."""
    for tok in tokens(markdown):
        assert tok.type != "image", (tok, markdown)
        assert tok.type not in ("html_inline", "html_block"), (tok, markdown)
        if tok.type == "link_open":
            scheme = urlsplit(str(tok.attrs["href"])).scheme.lower()
            assert scheme in SAFE_SCHEMES, (tok.attrs, markdown)


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_payload_class_renders_inert_and_stays_inert(name):
    out = sanitize(PAYLOADS[name])
    assert_inert(out)
    # rendering the output again (a stored answer shown twice, a quote of an answer) stays inert
    assert_inert(sanitize(out))
    # none of Streamlit's own constructs: directives, icons and LaTeX need an unescaped : or $
    text = " ".join(t.content for t in tokens(out) if t.type == "text")
    for piece in (":red[", ":material/", ":blue-badge[", ":small[", "$"):
        if piece in PAYLOADS[name]:
            assert piece not in _unescaped(out), (piece, out)
    assert text or out == ""


def _unescaped(markdown: str) -> str:
    """The output with every backslash escape removed: what is left is structure we wrote."""
    out, skip = [], False
    for c in markdown:
        if skip:
            skip = False
            out.append("_")
        elif c == "\\":
            skip = True
        else:
            out.append(c)
    return "".join(out)


def test_images_become_visible_text():
    out = sanitize(f"look ![a cat]({URL}) and ![y][r]\n\n[r]: {URL}")
    text = "".join(t.content for t in tokens(out) if t.type == "text")
    assert "[image not loaded: a cat]" in text and "[image not loaded: y]" in text
    assert "exfil" not in out


@pytest.mark.parametrize("payload", ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>",
                                     "<svg/onload=alert(1)>"])
def test_html_is_shown_as_text(payload):
    out = sanitize(payload)
    assert_inert(out)
    text = "".join(t.content for t in tokens(out) if t.type == "text")
    assert text == payload  # a person sees exactly what the model wrote


def test_script_links_are_defused():
    out = sanitize("[x](javascript:alert(1)) <javascript:alert(2)> [ok](https://example.org) [rel](./a)")
    assert "javascript:" not in _unescaped(out)
    links = [t.attrs["href"] for t in tokens(out) if t.type == "link_open"]
    assert links == ["https://example.org"]
    text = "".join(t.content for t in tokens(out) if t.type == "text")
    assert "rel (./a)" in text  # a relative link keeps its text and says where it pointed


def test_safe_links_keep_their_text_and_destination():
    src = "[docs](https://example.org/a?b=1&c=[2]|x) <https://example.org/auto> [m](mailto:a@b.example)"
    links = [(t.attrs["href"]) for t in tokens(sanitize(src)) if t.type == "link_open"]
    assert links == ["https://example.org/a?b=1&c=%5B2%5D%7Cx", "https://example.org/auto", "mailto:a@b.example"]


def test_code_stays_code_byte_for_byte():
    code = "if a < b and c ** 2 > 1:\n    print('<b>', `x`, '```', \"![i](http://e/x)\")\n    return a[0](1)\n"
    src = f"Run this:\n\n````python\n{code}````\n\nand `a < b ** c` inline, or ``x ` y``."
    out = sanitize(src)
    fences = [t for t in tokens(out) if t.type == "fence"]
    assert [f.content for f in fences] == [code] and fences[0].info == "python"
    spans = [t.content for t in tokens(out) if t.type == "code_inline"]
    assert spans == ["a < b ** c", "x ` y"]
    assert_inert(out)


def test_indented_code_and_code_in_containers_stay_code():
    src = "    x = '<img src=y>'\n\n> ```\n> ![a](http://e/x)\n> ```\n\n- ```\n  <script>\n  ```"
    out = sanitize(src)
    blocks = [t.content for t in tokens(out) if t.type in ("fence", "code_block")]
    assert blocks == ["x = '<img src=y>'\n", "![a](http://e/x)\n", "<script>\n"]
    assert_inert(out)


def test_structure_is_kept():
    src = ("# Title\n\nSome *em* and **strong** and ~~gone~~.\n\n> quoted\n\n- one\n- two\n  1. nested\n\n"
           "3. three\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n---\n\nend")
    kinds = {t.type for t in tokens(sanitize(src))}
    for kind in ("heading_open", "em_open", "strong_open", "s_open", "blockquote_open", "bullet_list_open",
                 "ordered_list_open", "table_open", "hr"):
        assert kind in kinds, kind
    # an ordered list keeps its start number
    starts = [t.attrs.get("start") for t in tokens(sanitize(src)) if t.type == "ordered_list_open"]
    assert 3 in starts


def test_text_reads_the_same():
    src = "Prices: $5 & $6, 1. not a list? a_b_c *not closed :smile: <3 ~tilde~ | pipe \\ back"
    out = sanitize(src)
    text = "".join(t.content for t in tokens(out) if t.type == "text")
    assert text == src


def test_plain_is_one_line_of_text_in_any_markdown_context():
    src = f"Title *x* ![i]({URL}) :red[r] `c`\n# not a heading\n- nor a list <b>"
    out = plain(src)
    assert "\n" not in out
    toks = list(tokens(out))
    assert {t.type for t in toks} <= {"paragraph_open", "paragraph_close", "inline", "text"}
    assert "".join(t.content for t in toks if t.type == "text") == src.replace("\n", " ")
    assert plain(None) == "" and plain(42) == "42"


def test_long_text_is_shown_verbatim_in_a_code_block():
    src = f"![x]({URL})\n    indented <b> ```` ~~~\n" * (MAX_FORMATTED // 20)
    out = sanitize(src)
    assert out.startswith("*Shown without formatting")
    assert_inert(out)
    fences = [t for t in tokens(out) if t.type == "fence"]
    assert [f.content for f in fences] == [src]  # every character, as written


def test_random_markdown_soup_is_always_inert():
    # a fixed seed: the same soup every run, so a failure can be reproduced
    rng = random.Random(1313)
    atoms = ["![", "[", "]", "(", ")", "<", ">", "`", "``", "```", "~~~", "\n", "\n\n", "    ", "> ", "- ", "1. ",
             "*", "_", "\\", "&#33;", "&lt;", ":", "red", "|", "---", "$", URL, "javascript:alert(1)", "img src=",
             "x", " ", "\"", "'", "[r]: ", "<img src=", "<!--", "-->"]
    for _ in range(400):
        src = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 60)))
        out = sanitize(src)
        assert_inert(out)
        assert_inert(sanitize(out))


@pytest.mark.timeout(5)
@pytest.mark.parametrize("unit", ["[x](", "![", "[![", "[", "`a", "<a ", "*a", "_a", "**a", "~~a", "&#", "\\",
                                  "a\n", "> ", "- a\n  ", "|a|\n|-|\n", "[a]: "])
def test_a_megabyte_of_hostile_markdown_finishes(unit):
    text = unit * (1_000_000 // len(unit))
    assert_inert(sanitize(text)[:20_000])


@pytest.mark.timeout(5)
@pytest.mark.parametrize("unit", ["[x](", "![", "[![", "- a\n  ", "|a|\n|-|\n", "> " * 30 + "a\n"])
def test_the_largest_formatted_text_finishes(unit):
    text = (unit * (MAX_FORMATTED // len(unit) + 1))[:MAX_FORMATTED]
    assert_inert(sanitize(text))


@pytest.mark.parametrize("src", ["> " * 25 + "hello", "> " * 150 + "hello", "- " * 150 + "hello",
                                 "1. " * 120 + "hello", "*" * 300 + "hello" + "*" * 300])
def test_deep_nesting_keeps_the_text(src):
    # the parser stops at its nesting limit; what lies deeper must still be shown, not dropped
    out = sanitize(src)
    assert "hello" in out
    assert_inert(out)


@pytest.mark.parametrize("text", ["a haiku line\nthe second line\nthe third", "> quoted\n> still quoted", "- item\n  continued"])
def test_a_line_break_the_model_wrote_stays_a_line_break(text):
    inline = [t for t in CHECK.parse(sanitize(text)) if t.type == "inline"]
    kinds = [c.type for t in inline for c in t.children]
    assert "hardbreak" in kinds and "softbreak" not in kinds
