"""Stop-string matching across token boundaries, and safe markdown."""

import pytest

from services.backends.base import StopMatcher
from ui.safe_markdown import sanitize


def run(stops, pieces):
    m = StopMatcher(tuple(stops))
    out = "".join(m.feed(p) for p in pieces)
    if not m.stopped:
        out += m.flush()
    return out, m.stopped


def test_stop_split_across_pieces():
    assert run(["###"], ["Hello #", "#", "# tail"]) == ("Hello ", True)


def test_partial_prefix_released_when_not_a_stop():
    assert run(["###"], ["a #", "b"]) == ("a #b", False)


def test_no_stops_passes_through():
    assert run([], ["a", "b"]) == ("ab", False)


def test_earliest_of_several_stops():
    assert run(["END", "\n\n"], ["one\n", "\ntwo END"]) == ("one", True)


@pytest.mark.parametrize(
    "payload",
    ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "<svg/onload=alert(1)>"],
)
def test_html_is_escaped(payload):
    out = sanitize(payload)
    # every < is backslash-escaped: shown as text, never read as a tag
    assert "<" not in out.replace("\\<", "")


def test_images_are_never_loaded():
    out = sanitize("look ![x](http://127.0.0.1:9/exfil?q=secret) and ![y][r]")
    assert "](" not in out and "exfil" not in out
    assert "image not loaded" in out


def test_script_links_are_defused():
    out = sanitize("[x](javascript:alert(1)) <javascript:alert(2)> [ok](https://example.org)")
    assert "javascript:" not in out
    assert "[ok](<https://example.org>)" in out


def test_code_is_left_alone():
    text = "Use `<b>` like:\n```html\n<b>bold</b>\n```\nthen <i>"
    out = sanitize(text)
    assert "`<b>`" in out and "<b>bold</b>" in out and out.endswith("\\<i\\>")
