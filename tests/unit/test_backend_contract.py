"""The one Backend contract: every registered backend implements it, and callers use nothing else."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.backends import backend_names, get_backend
from services.backends.base import Backend, Resident
from services.providers import Health

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ROOT / "services" / "backends"
# the protocol's members (and the optional routing one), which callers call instead of probing for
PROBED = {"capabilities", "stream", "list_targets", "prepare", "count_tokens", "loaded", "unload", "reset_cache",
          "health", "routing_info"}


@pytest.mark.parametrize("name", backend_names())
def test_every_registered_backend_implements_the_protocol(name):
    backend = get_backend(name)
    assert isinstance(backend, Backend)
    assert backend.name == name
    assert all(isinstance(r, Resident) for r in backend.loaded())
    assert backend.unload("nothing-loaded-under-this-key") is True
    backend.reset_cache()
    health = backend.health()
    if name in ("onnx", "transformers", "llamacpp", "ocr"):
        assert health is None
    else:
        assert isinstance(health, Health)


def test_a_class_missing_a_protocol_method_is_not_a_backend():
    class TextOnly:
        name = "x"

        def capabilities(self, model): ...
        def stream(self, request): ...
        def list_targets(self): ...
        def prepare(self, model): ...
        def count_tokens(self, model, messages): ...

    assert not isinstance(TextOnly(), Backend)


# ---- layering: code outside services/backends/ uses the contract, never a backend's private parts ----

def _outside_backends() -> list[Path]:
    files = [ROOT / "app.py"]
    for folder in ("app_pages", "ui", "services", "bench"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [p for p in files if p.is_file() and BACKENDS not in p.parents]


def _is_backend_module(name: str | None) -> bool:
    return bool(name) and (name == "services.backends" or name.startswith("services.backends."))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _backend_private_names() -> set[str]:
    """Private attributes and methods the backend package defines on its objects (self._x, def _x)."""
    names = set()
    for path in BACKENDS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                if _private(node.attr):
                    names.add(node.attr)
            elif isinstance(node, ast.FunctionDef) and _private(node.name):
                names.add(node.name)
    return names


def private_reaches(source: str, backend_privates: set[str]) -> list[str]:
    """Where this source imports a backend module's private name or reads a private attribute of a
    backend module or backend object (backends._instances, get_backend(x)._models, ...)."""
    tree = ast.parse(source)
    bound: set[str] = set()  # local names of backend modules and backend objects
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_backend_module(node.module):
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_backend_module(alias.name):
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign | ast.For):
            value = node.value if isinstance(node, ast.Assign) else node.iter
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                    value.func.id in ("get_backend", "instances"):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                bound.update(t.id for t in targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            owner = base.func if isinstance(base, ast.Call) else base
            while isinstance(owner, ast.Attribute):
                owner = owner.value
            on_backend = isinstance(owner, ast.Name) and (owner.id in bound or owner.id == "backends") or (
                isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "get_backend")
            not_own = not (isinstance(base, ast.Name) and base.id in ("self", "cls"))
            if on_backend or (not_own and node.attr in backend_privates and node.attr in ("_models", "_instances")):
                found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and node.args[1].value in backend_privates:
            found.append(f"{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in PROBED:
            # the contract guarantees these: call them, never probe for them
            found.append(f"{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_the_layering_check_catches_each_kind_of_reach():
    privates = _backend_private_names()
    assert {"_models", "_mark_used"} <= privates
    bad = """
from services.backends import _instances
from services.backends.onnx import backend as onnx_backend
import services.backends as backends
from services.backends import get_backend, instances
x = backends._instances
y = onnx_backend._og()
z = get_backend("onnx")._models
b = get_backend("transformers")
b._load_lock
for each in instances():
    each._mark_used("k")
getattr(b, "_models", {})
prepare = getattr(b, "prepare", None)
hasattr(b, "loaded")
"""
    assert len(private_reaches(bad, privates)) == 9
    good = """
from services.backends import get_backend
b = get_backend("onnx")
b.loaded(); b.unload("k"); b.reset_cache(); b.health()
self._models = {}
"""
    assert private_reaches(good, privates) == []


@pytest.mark.parametrize("path", _outside_backends(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_backend_name_is_used_outside_the_backends(path):
    found = private_reaches(path.read_text(), _backend_private_names())
    assert found == [], f"{path.relative_to(ROOT)} reaches into a backend; use the Backend protocol: {found}"


# ---- vision models are in loaded(), unload() and the model manager's in-use check ----

def _vision_record(name: str):
    from services.backends.transformers.vision import VisionModel

    # a record without weights: what the contract reads is its key, its bytes and its lock
    return VisionModel(name, model=object(), processor=None, tokenizer=None, context_length=4096, eos_ids=[0])


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_a_transformers_vision_model_is_listed_unloaded_and_guarded_on_delete(tmp_path, models_dir):
    from services.backends.transformers import vision as transformers_vision
    from services.models import manager as model_manager

    folder = tmp_path / "tiny-vision"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llava", "vision_config": {}}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 8)
    installed = model_manager.add(str(folder), "tiny-vision")
    backend = get_backend("transformers")
    record = _vision_record(installed.name)
    transformers_vision.resident.keep(installed.name, record, 1234)
    try:
        mine = [r for r in backend.loaded() if r.key == installed.name]
        assert mine == [Resident("transformers", "tiny-vision", 1234, mine[0].last_used, False, True)]

        with record.lock:  # answering: neither unloaded nor deleted, with the sentence text models get
            assert next(r for r in backend.loaded() if r.key == installed.name).busy
            assert backend.unload(installed.name) is False
            with pytest.raises(model_manager.ModelInUse,
                               match="transformers:tiny-vision is answering right now; stop that answer"):
                model_manager.remove(installed.target)
        assert installed.name in {r.key for r in backend.loaded()}

        model_manager.remove(installed.target)  # idle: unloaded first, then deleted
        assert installed.name not in {r.key for r in backend.loaded()}
        assert transformers_vision.resident.held(installed.name) is None
    finally:
        backend.unload(installed.name)


def test_unload_drops_an_idle_vision_model_and_reset_cache_leaves_it(models_dir):
    from services.backends.transformers import vision as transformers_vision

    backend = get_backend("transformers")
    transformers_vision.resident.keep("some-vision", _vision_record("some-vision"), 10)
    try:
        backend.reset_cache()
        assert "some-vision" in {r.key for r in backend.loaded() if r.vision}
        assert backend.unload("some-vision") is True
        assert "some-vision" not in {r.key for r in backend.loaded()}
    finally:
        backend.unload("some-vision")


def test_onnx_reports_a_phi3v_model_as_vision_and_reset_cache_drops_kept_state(tmp_path):
    from services.backends.onnx.backend import LoadedModel

    backend = get_backend("onnx")
    vision = LoadedModel(tmp_path / "v", SimpleNamespace(type="phi3v"), None, 4096)
    text = LoadedModel(tmp_path / "t", SimpleNamespace(type="phi3"), None, 4096, live=object())
    backend.keep(vision.folder, vision, 5)
    backend.keep(text.folder, text, 6)
    try:
        kinds = {r.key: r.vision for r in backend.loaded()}
        assert kinds[str(vision.folder)] is True and kinds[str(text.folder)] is False
        backend.reset_cache()
        assert text.live is None
        # a model answering keeps its state until the answer is done: reset waits for its lock
        text.live = "kept"
        text.lock.acquire()
        done = threading.Event()
        threading.Thread(target=lambda: (backend.reset_cache(), done.set()), daemon=True).start()
        assert not done.wait(0.2) and text.live == "kept"
        text.lock.release()
        assert done.wait(5) and text.live is None
    finally:
        backend.unload(str(vision.folder))
        backend.unload(str(text.folder))
