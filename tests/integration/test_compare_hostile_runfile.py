"""AppTest: hostile run files on the Compare page: one sentence each, never an exception; odd results still show."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from services.compare import runfile
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

HEAD = '{"format": "phi-playground/compare-run", "version": 1, "prompt": "x", '
HOSTILE = [
    (HEAD + '"targets": [{"target": ["onnx:a"]}]}', "targets[0].target must be text"),
    (HEAD + '"targets": [{"target": "a:b", "params": {"stop": 3}}]}', "targets[0].params.stop must be a list of strings"),
    (HEAD + '"targets": [{"target": "a:b"}], "results": [{"target": "a:b", "metrics": {"ttft_s": NaN}}]}',
     "results[0].metrics.ttft_s must be a number"),
    (HEAD + '"targets": [{"target": "a:b"}], "results": [{"target": "a:b", "metrics": {"total_s": "slow"}}]}',
     "results[0].metrics.total_s must be a number"),
    (HEAD + '"targets": [{"target": "a:b"}], "results": {"0": 1}}', "results must be a list or null"),
    (HEAD + '"targets": [{"target": "a:b"}], "wall_s": 1e400}', "wall_s must be a number"),
    (HEAD + '"targets": [{"target": "a:b"}], "votes": [{"outcome": true}]}', "votes[0].outcome must be one of"),
    ("[" * 50_000 + "]" * 50_000, "nested deeper than 16 levels"),
]


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    return at


def test_hostile_run_files_show_one_sentence_and_never_break_the_page():
    at = page()
    for n, (text, place) in enumerate(HOSTILE):
        at.file_uploader(key="cmp_upload").set_value([(f"run{n}.json", text.encode(), "application/json")]).run()
        assert not at.exception, (place, at.exception)
        # the page shows error texts through the markdown renderer, which escapes punctuation
        errors = [e.value.replace("\\", "") for e in at.error]
        assert any(place in e for e in errors), (place, errors)
        assert "cmp_last" not in at.session_state  # nothing of a refused file is kept


def test_odd_but_valid_results_show_without_an_exception():
    """Four results for two targets, a failed one with no text, zero and huge figures, empty metrics."""
    run = json.loads(HEAD + '"targets": [{"target": "onnx:a"}, {"target": "onnx:b"}]}')
    run["results"] = [
        {"target": "onnx:a", "text": "[x](javascript:alert(1)) ![y](http://127.0.0.1:9/exfil)",
         "metrics": {"decode_tokens_per_s": 9e15, "ttft_s": 0, "total_s": 2**53}},
        {"target": "onnx:b", "status": "error", "error": "**refused** <img src=x onerror=alert(1)>"},
        {"target": "onnx:c", "metrics": {}, "finish_reason": "cancelled"},
        {"target": "onnx:d", "metrics": {"decode_tokens_per_s": 0, "prompt_tokens": 3, "server": {"eval_s": 1.5}}},
    ]
    at = page()
    at.file_uploader(key="cmp_upload").set_value([("odd.json", json.dumps(run).encode(), "application/json")]).run()
    assert not at.exception and not at.error
    at.button(key="cmp_show_loaded").click().run()
    assert not at.exception, at.exception
    assert len(at.metric) == 9  # three cards: the failed column shows its error card instead
    assert any("refused" in e.value for e in at.error)
    loaded = at.session_state["cmp_last"].run
    assert [r["target"] for r in loaded["results"]] == ["onnx:a", "onnx:b", "onnx:c", "onnx:d"]
    assert runfile.loads(runfile.dumps(loaded))  # what the page keeps exports and loads again
