"""Local models within a memory budget: least recently used unloaded first, never one that is answering.

Three tiny random Phi-3 models on the transformers runtime, with a budget that holds two of them.
"""

from __future__ import annotations

import pytest

from services.backends import get_backend, memory
from services.errors import BackendUnavailable
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
