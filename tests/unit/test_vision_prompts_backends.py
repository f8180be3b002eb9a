"""Which local targets take images, read from their folders without loading a model."""

import json

import pytest

from services.backends import get_backend
from services.backends.transformers import vision as tv
from services.errors import BackendUnavailable


def test_onnx_phi3v_folder_takes_images_and_a_text_folder_does_not(tmp_path):
    vision_dir, text_dir = tmp_path / "phi35v", tmp_path / "phi35mini"
    for folder, kind in ((vision_dir, "phi3v"), (text_dir, "phi3")):
        folder.mkdir()
        (folder / "genai_config.json").write_text(json.dumps({"model": {"type": kind, "context_length": 131072}}))
    onnx = get_backend("onnx")
    caps = onnx.capabilities(str(vision_dir))
    assert caps.images and caps.max_images == 32 and caps.context_length == 131072
    assert not onnx.capabilities(str(text_dir)).images


def test_transformers_native_vision_config_takes_images(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llava", "architectures": ["LlavaForConditionalGeneration"],
        "vision_config": {"model_type": "clip_vision_model"}, "text_config": {"max_position_embeddings": 2048}}))
    caps = get_backend("transformers").capabilities(str(tmp_path))
    assert caps.images and caps.context_length == 2048


def test_phi3v_folder_is_refused_before_any_load(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "phi3_v", "architectures": ["Phi3VForCausalLM"]}))
    assert tv.is_phi3v(str(tmp_path)) and not tv.is_vision(str(tmp_path))
    with pytest.raises(BackendUnavailable, match="remote code"):
        get_backend("transformers").prepare(str(tmp_path))


def test_ocr_target_is_listed_for_what_it_is():
    (info,) = get_backend("ocr").list_targets()
    assert info.target == "ocr:smollm2-135m-instruct"
    assert "reads text" in info.label and "does not see" in info.label
    assert info.capabilities.images and info.capabilities.max_images >= 32
