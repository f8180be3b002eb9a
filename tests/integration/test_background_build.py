"""A fresh install answers the ONNX target through llama.cpp while the ONNX copy builds in the background.

The cache is a temp folder (PHI_PLAYGROUND_CACHE); its transformers copy links to the shared one so
only the ONNX build runs. The test holds the build lock to keep the build from finishing while it asks.
"""

import json
import os

import pytest

from services.models import embedded

from services.models import embedded_background
from services.chat import start_chat
from services.types import GenerationParams, Message

pytestmark = pytest.mark.integration
ONNX = f"onnx:{embedded.EMBEDDED_MODEL}"
ASK = [Message("user", "What is the capital of France?")]
GREEDY = GenerationParams(temperature=0, max_tokens=8)


@pytest.fixture
def fresh_cache(embedded_paths, tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_CACHE", str(tmp_path))
    os.symlink(embedded_paths["hf"], tmp_path / embedded_paths["hf"].name)
    yield tmp_path
    embedded_background.wait(600)  # never leave a build writing into a deleted folder


def test_request_while_building_is_answered_by_llamacpp_then_onnx_answers(fresh_cache):
    assert not embedded_background.onnx_ready()
    with embedded._build_lock():
        # the background build is now stuck behind this lock: it cannot finish while we ask
        first = start_chat(ONNX, ASK, GREEDY).finish()
        assert first.text.strip()
        assert first.metrics.server["answered_by"] == f"llamacpp:{embedded.EMBEDDED_MODEL}"
        state = embedded_background.status()
        assert state["building"] and not state["ready"] and state["error"] is None
        # a half-written copy (files present, no marker) is not switched to
        part = embedded.onnx_dir()
        part.mkdir()
        for name in embedded.ONNX_REQUIRED:
            (part / name).write_text("{}")
        assert not embedded_background.onnx_ready()
        again = start_chat(ONNX, ASK, GREEDY).finish()
        assert again.metrics.server["answered_by"].startswith("llamacpp:")
        # one build per cache folder, however many requests arrive
        assert len([k for k in embedded_background._builds if k == fresh_cache]) == 1
    assert embedded_background.wait(600), embedded_background.status()
    marker = json.loads((embedded.onnx_dir() / embedded.MARKER).read_text())
    assert marker["gguf"] == embedded.gguf_path().name
    after = start_chat(ONNX, ASK, GREEDY).finish()
    assert "answered_by" not in after.metrics.server  # the ONNX copy answers now
    assert after.text.strip()
    assert embedded_background.status() == {**embedded_background.status(), "ready": True, "building": False}


def test_built_cache_needs_no_stand_in(embedded_paths):
    assert embedded_background.stand_in(embedded.EMBEDDED_MODEL) is None
    assert embedded_background.stand_in("some-other-model") is None


def test_which_targets_wait_for_a_build(fresh_cache):
    from services.models.embedded_background import must_build_first, note

    model = embedded.EMBEDDED_MODEL
    assert not must_build_first(f"llamacpp:{model}")       # the GGUF as shipped
    assert not must_build_first(f"transformers:{model}")   # its copy is there (linked)
    assert not must_build_first("github:some-model")
    with embedded._build_lock():
        assert not must_build_first(f"onnx:{model}")       # llama.cpp stands in; the build starts
        assert "building in the background" in note(f"onnx:{model}")
        assert note(f"llamacpp:{model}") == ""
    assert embedded_background.wait(600)
    assert note(f"onnx:{model}") == ""
