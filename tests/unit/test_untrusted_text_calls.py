"""Every Streamlit call that renders markdown gets literal text or text from the renderer (ui/safe_markdown.py).

Streamlit 1.67 reads markdown in bodies (st.markdown, st.caption, st.error, st.toast, st.write ...) and
in labels (buttons, expanders, tabs, metrics, widget labels, radio and pills options, progress and
spinner text, image captions, tooltips): an image there is fetched like any other. So a value that
is not a literal must come out of `sanitize()` (bodies) or `plain()` (one line, anywhere).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RENDERER = {"sanitize", "plain"}
# method name -> positional indexes that hold markdown text (keywords are in TEXT_KEYWORDS)
POSITIONAL = {
    **dict.fromkeys(["markdown", "caption", "error", "warning", "info", "success", "toast", "title", "header",
                     "subheader", "button", "download_button", "link_button", "form_submit_button", "expander",
                     "popover", "status", "spinner", "checkbox", "toggle", "radio", "selectbox", "multiselect",
                     "slider", "select_slider", "text_input", "text_area", "number_input", "file_uploader",
                     "color_picker", "date_input", "time_input", "pills", "segmented_control", "camera_input",
                     "audio_input", "page_link"], (0,)),
    "metric": (0, 1),
    "progress": (1,),
    "tabs": (0,),
    "write": tuple(range(10)),
    "image": (),  # caption= only
}
TEXT_KEYWORDS = {"body", "label", "text", "help", "caption", "value"}
# format_func output is shown as markdown for these (selectbox and multiselect options are plain text)
MARKDOWN_OPTIONS = {"radio", "pills", "segmented_control"}
# the value= keyword is text only for metric; elsewhere it is a widget's default
VALUE_IS_TEXT = {"metric"}
CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
# a numeric presentation type, or a thousands separator (which str.format refuses for a string)
NUMERIC_SPEC = re.compile(r"[<>=^]?[+\- ]?#?0?\d*(?:[,_](?:\.\d+)?[bdeEfFgGn%xXo]?|(?:\.\d+)?[bdeEfFgGn%xXo])")
# (file, source of the argument) -> why it is safe without the renderer; keep this short
ALLOWED: dict[tuple[str, str], str] = {
    ("app_pages/compare.py", "text"): "a vote button's label from the literal VOTES dict",
    ("app_pages/models.py", "name"): "setting names from the literal TYPABLE tuple (also the field's aria-label, "
                                      "which must read OPENAI_API_KEY, not OPENAI\\_API\\_KEY)",
    ("ui/vision_media.py", "STRATEGY_LABELS.get"): "radio options from the literal STRATEGY_LABELS dict",
    ("ui/compare_columns.py", 'diff_markdown(ta, tb) or "_(both empty)_"'):
        "writes :red-background/:green-background directives around words escaped by plain()",
    ("ui/frame_strip.py", "caption(part, k)"): "a number, a timestamp and plain(label)",
    ("ui/target_picker.py", 'help or "backend:model. Unavailable targets say why."'):
        "help is a literal passed by the calling page",
}


def files() -> list[Path]:
    out = [ROOT / "app.py"]
    for folder in ("app_pages", "ui"):
        out += sorted((ROOT / folder).glob("*.py"))
    return [p for p in out if p.name != "safe_markdown.py"]


def is_renderer(node) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name in RENDERER


def safe(node) -> bool:
    """Literal text, text from the renderer, or a composition of those."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, int, float, type(None)))
    if is_renderer(node):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) or _safe_field(v) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return safe(node.left) and safe(node.right)
    if isinstance(node, ast.IfExp):
        return safe(node.body) and safe(node.orelse)
    if isinstance(node, ast.BoolOp):
        return all(safe(v) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(safe(e) for e in node.elts)
    if isinstance(node, ast.Lambda):
        return safe(node.body)
    return False


def _safe_field(v: ast.FormattedValue) -> bool:
    # a field with a numeric format spec ({x:.1f}, {n:,}, {p:.0%}, {k:d}) can only produce a number
    spec = v.format_spec
    if spec is not None and all(isinstance(p, ast.Constant) for p in spec.values):
        if NUMERIC_SPEC.fullmatch("".join(str(p.value) for p in spec.values)):
            return True
    if isinstance(v.value, ast.Call) and isinstance(v.value.func, ast.Name) and v.value.func.id == "len":
        return True  # a count
    if isinstance(v.value, ast.Name) and CONSTANT.fullmatch(v.value.id):
        return True  # a module constant (MAX_TARGETS): set from a literal in our own code
    return safe(v.value)


def text_arguments(call: ast.Call):
    """The arguments of a Streamlit call that Streamlit renders as markdown."""
    name = call.func.attr
    for i in POSITIONAL.get(name, ()):
        if i < len(call.args) and not isinstance(call.args[i], ast.Starred):
            yield call.args[i]
    for kw in call.keywords:
        if kw.arg in TEXT_KEYWORDS and (kw.arg != "value" or name in VALUE_IS_TEXT):
            yield kw.value
        elif kw.arg == "format_func" and name in MARKDOWN_OPTIONS:
            yield kw.value
        elif kw.arg == "label" and name == "update":
            yield kw.value  # st.status(...).update(label=...)


def unsafe_calls() -> list[str]:
    found = []
    for path in files():
        rel = str(path.relative_to(ROOT))
        source = path.read_text()
        for node in ast.walk(ast.parse(source, rel)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in POSITIONAL and node.func.attr != "update":
                continue
            # dict.update, list.index and friends: only calls on Streamlit objects matter, and
            # every one of those names takes text first; `update` counts only with label=
            for arg in text_arguments(node):
                if safe(arg):
                    continue
                src = ast.get_source_segment(source, arg) or ast.dump(arg)
                if (rel, src) in ALLOWED:
                    continue
                found.append(f"{rel}:{node.lineno} {node.func.attr}({src})")
    return found


def test_the_scan_sees_the_pages():
    names = {str(p.relative_to(ROOT)) for p in files()}
    assert {"app.py", "app_pages/chat.py", "ui/conversation_list.py"} <= names


def test_the_rule_rejects_raw_values():
    for src in ["st.markdown(text)", "st.button(c['title'])", "st.caption(f'Prompt: {p}')",
                "st.error(exc.user_message())", "col.metric('x', answer)", "st.tabs([name])",
                "st.radio('x', opts, format_func=lambda o: o)", "bar.progress(0.5, text=msg)",
                "st.image(b, caption=label)", "st.status('x').update(label=msg)", "st.write(a, b)"]:
        call = ast.parse(src).body[0].value
        assert not all(safe(a) for a in text_arguments(call)), src
    for src in ["st.markdown(sanitize(text))", "st.button(plain(c['title']) or 'Untitled')",
                "st.caption(f'{n:,} tokens, {x:.1f} s, {len(rows)} rows: {plain(name)}')"]:
        call = ast.parse(src).body[0].value
        assert all(safe(a) for a in text_arguments(call)), src


def test_every_markdown_call_takes_literal_or_rendered_text():
    bad = unsafe_calls()
    assert bad == [], "route these through ui.safe_markdown (sanitize for bodies, plain for labels):\n" + "\n".join(bad)


@pytest.mark.parametrize("key", sorted(ALLOWED))
def test_allow_list_entries_still_exist(key):
    rel, src = key
    assert src in (ROOT / rel).read_text(), f"stale allow-list entry {key}"
