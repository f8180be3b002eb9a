"""Model manager without a hub: the variants catalog, bring-your-own checks, rm of links, space, events."""

from __future__ import annotations

import json

import pytest

from services.models import local as local_models

from services.models import manager as model_manager
from services.errors import BadRequest
from services.models.local import Variant


@pytest.fixture(autouse=True)
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("PHI_PLAYGROUND_VARIANTS", raising=False)
    monkeypatch.delenv("PHI_PLAYGROUND_MODELS_MAX_GB", raising=False)
    return tmp_path / "models"


def test_catalog_has_the_phi_onnx_gguf_and_safetensors_variants():
    rows = local_models.variants()
    repos = {v.repo for v in rows}
    for repo in ("microsoft/Phi-3-mini-4k-instruct-onnx", "microsoft/Phi-3.5-mini-instruct-onnx",
                 "microsoft/Phi-3.5-vision-instruct-onnx", "microsoft/Phi-3-mini-4k-instruct-gguf",
                 "microsoft/Phi-3.5-mini-instruct"):
        assert repo in repos
    assert len({v.key for v in rows}) == len(rows)
    for v in rows:
        assert v.download_gb > 0 and v.memory_gb > 0 and v.label
        if v.runtime == "onnx":
            # one CPU int4 subfolder, fetched with one allow pattern
            assert "cpu-int4" in v.subfolder and v.allow_patterns == [v.subfolder + "/*"]
        elif v.runtime == "gguf":
            assert v.file.endswith(".gguf") and v.allow_patterns == [v.file]
        else:
            assert "*.safetensors" in v.patterns
    mini = local_models.find_variant("phi-3.5-mini-instruct", "onnx-cpu-int4")
    assert mini.target == "onnx:phi-3.5-mini-instruct"
    assert local_models.find_variant("phi-3.5-mini-instruct/gguf-q4").target.startswith("llamacpp:")


def test_unknown_model_or_variant_names_the_known_ones():
    with pytest.raises(BadRequest, match="Known models: .*phi-3.5-mini-instruct"):
        local_models.find_variant("phi-9")
    with pytest.raises(BadRequest, match="its variants: onnx-cpu-int4"):
        local_models.find_variant("phi-3.5-mini-instruct", "gguf-q99")


def test_extra_variants_file_adds_entries(tmp_path, monkeypatch):
    extra = tmp_path / "mine.toml"
    extra.write_text('[[variant]]\nmodel = "my-phi"\nvariant = "onnx-cpu-int4"\nruntime = "onnx"\n'
                     'repo = "me/my-phi-onnx"\nsubfolder = "cpu"\n')
    monkeypatch.setenv("PHI_PLAYGROUND_VARIANTS", str(extra))
    assert local_models.find_variant("my-phi").repo == "me/my-phi-onnx"
    extra.write_text('[[variant]]\nmodel = "x"\nvariant = "y"\nruntime = "exe"\nrepo = "a/b"\n')
    with pytest.raises(BadRequest, match="runtime must be one of onnx, transformers, gguf"):
        local_models.variants()


def test_a_folder_that_is_not_a_model_names_what_is_missing(tmp_path):
    empty = tmp_path / "holiday-photos"
    empty.mkdir()
    (empty / "run.sh").write_text("echo never run\n")
    with pytest.raises(BadRequest) as err:
        local_models.inspect(empty)
    msg = err.value.user_message()
    assert "genai_config.json" in msg and "config.json" in msg and ".gguf" in msg

    onnx = tmp_path / "half-onnx"
    onnx.mkdir()
    (onnx / "genai_config.json").write_text(json.dumps({"model": {"decoder": {"filename": "model.onnx"}}}))
    with pytest.raises(BadRequest, match=r"missing \*\.onnx, tokenizer\.json or tokenizer_config\.json"):
        local_models.inspect(onnx)

    hf = tmp_path / "half-hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "tokenizer.json").write_text("{}")
    with pytest.raises(BadRequest, match=r"missing \*\.safetensors or pytorch_model\*\.bin"):
        local_models.inspect(hf)

    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"MZ\x90\x00 an exe renamed")
    with pytest.raises(BadRequest, match="not a GGUF file"):
        local_models.inspect(fake)
    with pytest.raises(BadRequest, match="Nothing at"):
        local_models.inspect(tmp_path / "nope")


def test_add_links_a_gguf_and_rm_removes_only_the_link(tmp_path, models_dir):
    mine = tmp_path / "downloads" / "Phi-3-mini-4k-instruct-q4.gguf"
    mine.parent.mkdir()
    mine.write_bytes(b"GGUF" + b"\0" * 1000)
    added = model_manager.add(str(mine), None)
    assert added.target == "llamacpp:phi-3-mini-4k-instruct-q4" and added.linked
    assert local_models.installed("gguf") == [("phi-3-mini-4k-instruct-q4", models_dir / "gguf" /
                                                "phi-3-mini-4k-instruct-q4.gguf")]
    with pytest.raises(BadRequest, match="already installed"):
        model_manager.add(str(mine), None)
    listed = model_manager.overview()["installed"]
    assert listed[0]["linked"] and listed[0]["source"]["added_from"] == str(mine)

    model, freed = model_manager.remove("llamacpp:phi-3-mini-4k-instruct-q4")
    assert freed == 0 and mine.read_bytes().startswith(b"GGUF")
    assert local_models.installed("gguf") == []

    # the user moves their file away: the dead link is not a target and does not block a new add
    model_manager.add(str(mine), "mine")
    moved = mine.rename(mine.with_name("elsewhere.gguf"))
    assert local_models.installed("gguf") == []
    assert model_manager.add(str(moved), "mine").target == "llamacpp:mine"


def test_add_onnx_folder_under_a_safe_name_and_it_becomes_an_onnx_target(tmp_path):
    folder = tmp_path / "my model"
    folder.mkdir()
    (folder / "genai_config.json").write_text(json.dumps({"model": {"decoder": {"filename": "model.onnx"}}}))
    (folder / "model.onnx").write_bytes(b"\x08\x07")
    (folder / "tokenizer.json").write_text("{}")
    added = model_manager.add(str(folder), "../../Evil Name")
    assert added.name == "evil-name" and added.path.parent == local_models.models_root() / "onnx"
    assert local_models.find("onnx", "evil-name") is not None
    with pytest.raises(BadRequest, match="No installed model 'nothing'"):
        model_manager.remove("nothing")


def test_space_check_refuses_with_the_numbers(monkeypatch):
    v = Variant(model="m", variant="v", runtime="onnx", repo="o/r", subfolder="cpu", label="Big Phi")
    plan = model_manager.Plan(v, "c" * 40, (("cpu/model.onnx.data", 3_000_000_000, True),
                                            ("cpu/genai_config.json", 2_000, False)))
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS_MAX_GB", "1.5")
    with pytest.raises(model_manager.NotEnoughSpace) as err:
        model_manager.check_space(plan)
    assert "Big Phi needs 3.0 GB more but only 1.5 GB is available (the PHI_PLAYGROUND_MODELS_MAX_GB limit)" \
        in err.value.user_message()
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS_MAX_GB", "4")
    model_manager.check_space(plan)
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS_MAX_GB", "lots")
    with pytest.raises(BadRequest, match="must be a number of GB"):
        model_manager.check_space(plan)


def test_progress_event_reads_like_a_download_bar():
    ev = model_manager.PullEvent("downloading", 1_200_000_000, 2_700_000_000, 12_300_000, 122)
    assert ev.describe() == "1.2 GB of 2.7 GB, 12.3 MB/s, about 2 min 02 s left"
    assert ev.fraction == pytest.approx(0.444, abs=0.001)
    assert model_manager.PullEvent("done", message="Installed as onnx:x.").describe() == "Installed as onnx:x."


def test_offline_message_is_one_sentence_with_how_to_copy_by_hand():
    v = local_models.find_variant("phi-3.5-mini-instruct", "onnx-cpu-int4")
    err = model_manager.offline_error(v, "the model hub at https://huggingface.co cannot be reached from here")
    assert err.message.endswith("cannot be reached from here.") and err.message.count(". ") == 0
    assert "cpu_and_mobile/cpu-int4-awq-block-128-acc-level-4 of microsoft/Phi-3.5-mini-instruct-onnx" in err.hint
    assert "python -m services models add PATH" in err.hint
    assert str(local_models.models_root() / "onnx" / "phi-3.5-mini-instruct") in err.hint


def test_an_interrupted_download_is_shown_and_can_be_discarded():
    v = local_models.find_variant("phi-3.5-mini-instruct", "onnx-cpu-int4")
    part = model_manager.partial_dir(v) / v.subfolder
    part.mkdir(parents=True)
    (part / "genai_config.json").write_text("{}" * 500)
    row = next(r for r in model_manager.overview()["variants"] if r["key"] == v.key)
    assert row["partial_bytes"] == 1000 and not row["installed"]
    assert model_manager.discard_partial("phi-3.5-mini-instruct", "onnx-cpu-int4") == 1000
    assert not model_manager.partial_dir(v).exists()
    with pytest.raises(BadRequest, match="no interrupted download of phi-3.5-mini-instruct/onnx-cpu-int4"):
        model_manager.discard_partial(v)
