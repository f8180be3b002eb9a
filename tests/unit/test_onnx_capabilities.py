"""ONNX capabilities come from the model's own genai_config.json, for installed models too."""

import json

from services.backends.onnx.backend import OnnxBackend


def test_installed_model_context_is_read_from_its_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path))
    folder = tmp_path / "onnx" / "phi-3-mini-4k-instruct"
    folder.mkdir(parents=True)
    (folder / "genai_config.json").write_text(json.dumps({"model": {"context_length": 4096, "type": "phi3"}}))
    assert OnnxBackend().capabilities("phi-3-mini-4k-instruct").context_length == 4096
    assert OnnxBackend().capabilities(str(folder)).context_length == 4096
