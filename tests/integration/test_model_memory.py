"""Local models within a memory budget: least recently used unloaded first, never one that is answering.

Three tiny random Phi-3 models on the transformers runtime, with a budget that holds two of them; and
two Phi-3 folders added through the Models page's own path (manager.add), where answering with the
second unloads the idle first (tests/integration/test_phi_shaped_add.py checks their template and stops).
"""

from __future__ import annotations

import pytest

from services.backends import get_backend, memory
from services.chat import chat_once
from services.errors import BackendUnavailable
from services.models import manager as model_manager
from services.types import ChatRequest, GenerationParams, Message, Target, Token
from tests.fixtures.tiny_models import build_tiny_phi3

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> list[str]:
    return [str(build_tiny_phi3(tmp_path_factory.mktemp(f"tiny-{n}"), seed=n)) for n in range(3)]


@pytest.fixture()
def backend(three):
    b = get_backend("transformers")
    for key in three:
        b.unload(key)
    yield b
    for key in three:
        b.unload(key)


def ours(backend, three) -> list[str]:
    return sorted(r.key for r in backend.loaded() if r.key in three)


def test_loading_a_third_unloads_the_least_recently_used(backend, three, monkeypatch):
    a, b, c = three
    backend.load(a)
    size = next(r.bytes for r in backend.loaded() if r.key == a)
    assert size > 0
    # room for two of them (anything else already loaded in this process is older, so it goes first)
    monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", str(2.5 * size / memory.GB))
    backend.load(b)
    backend.load(a)  # a is used again: b is now the least recently used
    backend.load(c)
    assert ours(backend, three) == sorted([a, c])
    assert sum(r.bytes for _b, r in memory.residents()) <= 2.5 * size


def test_a_model_that_is_answering_is_never_unloaded(backend, three, monkeypatch):
    a, b, c = three
    backend.load(a)
    size = next(r.bytes for r in backend.loaded() if r.key == a)
    monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", str(2.5 * size / memory.GB))
    backend.load(b)
    request = ChatRequest(Target("transformers", a), (Message("user", "hello"),),
                          GenerationParams(temperature=0, max_tokens=40))
    stream = backend.stream(request)
    try:
        # a is mid-answer (its lock held) and the least recently used: b must go instead
        assert any(isinstance(ev, Token) for ev in _first_events(stream))
        assert next(r for r in backend.loaded() if r.key == a).busy
        assert backend.unload(a) is False
        backend.load(c)
        assert ours(backend, three) == sorted([a, c])
        # with room for one model only, and that one answering, a new load is refused with a sentence
        monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", str(1.5 * size / memory.GB))
        with pytest.raises(BackendUnavailable, match="memory budget while transformers:.* are answering"):
            backend.load(b)
        assert a in ours(backend, three)
    finally:
        stream.close()
    assert not next(r for r in backend.loaded() if r.key == a).busy


def _first_events(stream, n: int = 3):
    out = []
    for ev in stream:
        out.append(ev)
        if len(out) >= n:
            break
    return out


def test_a_bad_budget_is_one_sentence(monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", "lots")
    with pytest.raises(Exception, match="PHI_PLAYGROUND_MODEL_MEMORY_GB must be a positive number of GB"):
        memory.budget_bytes()


def test_vision_models_count_and_are_unloaded_too(backend, three, tmp_path, monkeypatch):
    from tests.integration.test_vision_transformers import build_tiny_llava

    a, b, _c = three
    llava = str(build_tiny_llava(tmp_path / "llava"))
    backend.load(a)
    backend.prepare(llava)  # the vision path: its own cache, reported by the same backend
    sizes = {r.key: r.bytes for r in backend.loaded() if r.key in (a, llava)}
    assert sizes[llava] > 0 and sizes[a] > 0
    # room for one model: loading b unloads both idle ones, the vision model included
    monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", str(1.2 * max(sizes.values()) / memory.GB))
    try:
        backend.load(b)
        keys = {r.key for r in backend.loaded()}
        assert b in keys and a not in keys and llava not in keys
    finally:
        backend.unload(llava)


# ---- Phi-shaped models added through the app's own path --------------------------------------------

SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
GREEDY = GenerationParams(temperature=0, max_tokens=20)


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_loading_a_second_added_model_unloads_the_idle_one(models_dir, three, backend, monkeypatch):
    a, b, _c = three
    model_manager.add(a, "phi3-first")
    model_manager.add(b, "phi3-second")
    try:
        assert chat_once("transformers:phi3-first", QUESTION, params=GREEDY).error is None
        size = next(r.bytes for r in backend.loaded() if r.key == "phi3-first")
        # room for one of them: answering with the second unloads the first, which is idle
        monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", str(1.5 * size / memory.GB))
        assert chat_once("transformers:phi3-second", QUESTION, params=GREEDY).error is None
        keys = {r.key for r in backend.loaded()}
        assert "phi3-second" in keys and "phi3-first" not in keys
    finally:
        backend.unload("phi3-first")
        backend.unload("phi3-second")
