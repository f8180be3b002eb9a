"""The Models page's local section, driven through Streamlit's AppTest (no model is loaded)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from services.models import manager as model_manager, measured
from tests.readable import readable

pytestmark = pytest.mark.integration

SCRIPT = "from ui.models_local import render\nrender()\n"


@pytest.fixture()
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("PHI_PLAYGROUND_MEASURED", str(tmp_path / "measured.toml"))
    (tmp_path / "measured.toml").write_text(
        f'[machine]\nbandwidth_gbs = 10.0\ncpu = "{measured.machine_cpu()}"\ndate = "2026-12-07"\n'
        '[efficiency]\n"llamacpp:Q4_K_M" = 0.6\n"onnx:int4" = 0.5\n')
    monkeypatch.setattr(measured, "_remeasured", {})
    monkeypatch.delenv("PHI_PLAYGROUND_VARIANTS", raising=False)
    for job in model_manager.jobs():  # downloads finished by other tests in this process
        model_manager.forget(job)
    mine = tmp_path / "Phi-3-mini-4k-instruct-q4.gguf"
    mine.write_bytes(b"GGUF" + b"\0" * 64)
    model_manager.add(str(mine), None)
    return AppTest.from_string(SCRIPT, default_timeout=60).run(), mine


def test_lists_variants_installed_models_and_free_space(page):
    at, _mine = page
    assert not at.exception
    assert at.subheader[0].value == "Local models"
    assert "available for models" in at.caption[0].value
    assert "llamacpp:phi-3-mini-4k-instruct-q4" in [c.value for c in at.code]
    labels = [b.label for b in at.button]
    assert labels.count("Download") >= 5 and "Delete" in labels
    text = " ".join(readable(m.value) for m in at.markdown)
    assert "Phi-3.5-mini, ONNX int4, CPU" in text


def test_bring_your_own_folder_that_is_not_a_model_says_what_is_missing(page, tmp_path):
    at, _mine = page
    (tmp_path / "photos").mkdir()
    at.text_input[0].set_value(str(tmp_path / "photos"))
    next(b for b in at.button if b.label == "Add").click().run()
    assert not at.exception
    assert any("genai_config.json" in readable(e.value) and ".gguf" in readable(e.value) for e in at.error)


def test_delete_of_an_added_model_keeps_the_users_file(page):
    at, mine = page
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception
    assert "your own files were left alone" in at.success[0].value
    assert mine.is_file()
    assert "llamacpp:phi-3-mini-4k-instruct-q4" not in [c.value for c in at.code]


def test_every_variant_shows_its_fit_and_expected_speed(page):
    at, _mine = page
    captions = [readable(c.value) for c in at.caption]
    assert any("read bandwidth 10 GB/s (measured.toml, 2026-12-07)" in c for c in captions)
    # measured runtime:format pairs get a number, the others say so instead of inventing one
    assert any("tokens/s" in c and "about" in c for c in captions), captions
    assert any("not measured on this machine" in c for c in captions)
    fits = [c for c in captions if c.split(" · ")[0].split(" ", 1)[-1] in (
        "fits", "fits alone", "not enough free memory now", "too big for this machine")]
    assert len(fits) >= 10  # every downloadable variant, and the added model


def test_without_measurements_no_speed_is_invented(page, tmp_path):
    (tmp_path / "measured.toml").unlink()
    at = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not at.exception
    captions = [readable(c.value) for c in at.caption]
    assert not any("tokens/s" in c for c in captions if "about" in c)
    assert any("not measured on this machine" in c for c in captions)
    assert any(b.label == "Measure bandwidth here" for b in at.button)
