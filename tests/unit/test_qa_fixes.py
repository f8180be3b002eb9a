"""Regression tests for defects found in the QA pass over the chat, vision, compare and models pages."""

from __future__ import annotations

from services.types import Metrics
from tests.readable import readable
from ui.metrics_card import metrics_line


def test_metrics_line_unknown_prompt_tokens_reads_as_dash_not_none():
    # a stopped ONNX stream stores prompt_tokens=None; the caption used to say "None in"
    line = metrics_line(Metrics(ttft_s=2.2, decode_tokens_per_s=10.2, prompt_tokens=None, completion_tokens=62,
                                total_s=8.16), "cancelled")
    assert "None" not in line
    assert "– in / 62 out" in line


def test_import_keeps_version_numbers_of_alternatives(tmp_path):
    # the export lists the active branch first; importing in file order made an edit "version 1 / 2"
    from services.conversations.import_export import export_json_text, import_json
    from services.conversations.branches import path
    from services.conversations.rows import NewMessage, TurnSettings
    from services.conversations.store import Store

    src, dst = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    c = src.create_conversation(settings=TurnSettings("onnx:smollm2-135m-instruct"))
    q1 = src.add_message(c, NewMessage("user", "France?"))
    src.add_message(c, NewMessage("assistant", "Paris."))
    src.add_message(c, NewMessage("user", "Italy?"), parent_id=src.get_message(q1).parent_id)  # the edit, now active
    src.add_message(c, NewMessage("assistant", "Rome."))
    before = [(t.message.content, t.index, len(t.siblings)) for t in path(src, c)]
    assert before[0] == ("Italy?", 1, 2)
    new_id = import_json(dst, export_json_text(src, c).encode())
    assert [(t.message.content, t.index, len(t.siblings)) for t in path(dst, new_id)] == before
    src.close()
    dst.close()


def test_pages_have_no_bare_expressions_that_streamlit_magic_would_render():
    # pages/vision.py had `(st.warning(x) if p else st.caption(y))`: magic rendered the returned
    # DeltaGenerator's help (a page-long table of st methods) under every image-token estimate
    import ast
    from pathlib import Path

    found = []
    for page in sorted((Path(__file__).parents[2] / "app_pages").glob("*.py")):
        def walk(body, page=page):
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    continue  # magic only rewrites the script body, not function bodies
                if isinstance(node, ast.Expr) and not isinstance(node.value, (ast.Call, ast.Constant, ast.Await)):
                    found.append(f"{page.name}:{node.lineno}")
                for field in ("body", "orelse", "finalbody", "handlers"):
                    if isinstance(getattr(node, field, None), list):
                        walk(getattr(node, field))
        walk(ast.parse(page.read_text()).body)
    assert found == []


def test_compare_unavailable_target_warning_has_one_full_stop(tmp_path, monkeypatch):
    # the reason already ends in "."; the page added ". Its column…" and showed "session.. Its column"
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("PHI_PLAYGROUND_DATA", str(tmp_path))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.switch_page("app_pages/compare.py").run()
    github = "github:microsoft/phi-3.5-mini-instruct"
    at.multiselect(key="cmp_targets").set_value(["onnx:smollm2-135m-instruct", github]).run()
    assert not at.exception
    warnings = [readable(w.value) for w in at.warning if github in readable(w.value)]
    assert warnings and all(".." not in w for w in warnings), warnings


def test_cli_truncated_video_is_one_readable_line_on_stderr(tmp_path):
    # OpenCV/FFmpeg printed "moov atom not found" and a "[ WARN:0]" line before our message
    import os
    import subprocess
    import sys

    import cv2
    import numpy as np

    from tests.conftest import ROOT

    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])  # the moov atom is at the end: gone
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    env["PHI_PLAYGROUND_DATA"] = str(tmp_path / "data")
    out = subprocess.run([sys.executable, "-m", "services", "vision", "what is it?", "--video",
                          str(tmp_path / "cut.mp4")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cut.mp4"), out.stderr


def test_compare_finishes_importing_transformers_before_workers_start():
    # transformers' lazy module is not thread-safe on first import: a compare of "a:b" and a
    # transformers target sometimes failed with "transformers or torch is not installed"
    # (ImportError: cannot import name 'AutoModelForCausalLM'). The run now resolves those names
    # in the calling thread first; checked in a fresh interpreter, where nothing is imported yet.
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys\n"
            "from services.jobs import import_shared_sdks\n"
            "import_shared_sdks(['onnx:m', 'a:b'])\n"
            "assert 'transformers' not in sys.modules\n"  # only when a transformers target is in the run
            "import_shared_sdks(['a:b', 'transformers:smollm2-135m-instruct'])\n"
            "assert 'transformers.models.auto.modeling_auto' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]


def test_chat_target_and_params_survive_a_visit_to_another_page(tmp_path, monkeypatch):
    # Streamlit drops the state of widgets a run does not draw: after a look at the Models page
    # the chat's target went back to the default and the next question went to another model
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("PHI_PLAYGROUND_DATA", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.switch_page("app_pages/chat.py").run()
    at.selectbox(key="chat_target").set_value("transformers:smollm2-135m-instruct")
    at.number_input(key="chat_max_tokens").set_value(77)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    at.switch_page("app_pages/chat.py").run()
    assert not at.exception
    assert at.selectbox(key="chat_target").value == "transformers:smollm2-135m-instruct"
    assert at.number_input(key="chat_max_tokens").value == 77
