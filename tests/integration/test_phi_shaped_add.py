"""Phi-shaped models added through the Models page's own path answer through the services with the Phi
chat template and stop at <|end|>: a transformers folder, the same weights as an ONNX Runtime GenAI
folder made by the app's own builder command at the published CPU recipe (int4, blocks of 32, level 4),
and as a GGUF for llama.cpp (written with gguf-py as llama.cpp's converter writes phi3); chat on each,
and compare all three.

The tiny Phi-3 says one word ("Paris") and then <|end|> after any prompt, so a template or stop-token
mistake shows as a different answer or one that runs to max_tokens.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from services.backends import get_backend, memory
from services.chat import chat_once
from services.compare.run import CompareSpec, run_compare
from services.models import embedded, manager as model_manager
from services.types import GenerationParams, Message
from tests.fixtures.tiny_models import build_tiny_phi3_that_answers, write_phi3_gguf

pytestmark = pytest.mark.integration

SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
GREEDY = GenerationParams(temperature=0, max_tokens=20)
PHI_PROMPT = f"<|system|>\n{SYSTEM}<|end|>\n<|user|>\n{QUESTION}<|end|>\n<|assistant|>\n"
# the published Phi-3 CPU builds' recipe (cpu-int4-rtn-block-32-acc-level-4)
PUBLISHED_CPU = {"precision": "int4", "block_size": 32, "accuracy_level": 4}
HF, ONNX, GGUF = "transformers:phi3-shaped", "onnx:phi3-shaped-int4", "llamacpp:phi3-shaped-f32"


@pytest.fixture(scope="module")
def added(tmp_path_factory):
    """All three added with the Models page's own path, in a models folder of this module's own."""
    root = tmp_path_factory.mktemp("phi3")
    folder = build_tiny_phi3_that_answers(root / "Phi-3-mini-shaped")
    out_dir = root / "Phi-3-mini-shaped-onnx-int4"
    cmd = embedded.builder_command(folder, out_dir, root / "work", PUBLISHED_CPU)
    proc = subprocess.run(cmd, env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    gguf_file = write_phi3_gguf(folder, root / "Phi-3-mini-shaped-f32.gguf")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHI_PLAYGROUND_MODELS", str(root / "models"))
        assert model_manager.add(str(folder), "phi3-shaped").target == HF
        assert model_manager.add(str(out_dir), "phi3-shaped-int4").target == ONNX
        assert model_manager.add(str(gguf_file), "phi3-shaped-f32").target == GGUF
        yield
        get_backend("transformers").unload("phi3-shaped")
        get_backend("onnx").unload("phi3-shaped-int4")
        for r in get_backend("llamacpp").loaded():
            if r.key.endswith("phi3-shaped-f32.gguf"):
                get_backend("llamacpp").unload(r.key)


def test_an_added_transformers_phi_folder_answers_with_the_phi_template_and_stops(added):
    out = chat_once(HF, QUESTION, system=SYSTEM, params=GREEDY)
    # one word, then <|end|>: the answer stops there, the stop token never shown
    assert out.error is None and out.text.strip() == "Paris" and out.finish_reason == "stop"
    backend = get_backend("transformers")
    loaded = backend.load("phi3-shaped")
    ids = backend.prompt_ids(loaded, (Message("system", SYSTEM), Message("user", QUESTION)))[0]
    assert loaded.tokenizer.decode(ids) == PHI_PROMPT
    # the Models page's listing reads the added folder's own shape for its fit
    row = next(m for m in model_manager.overview()["installed"] if m["target"] == HF)
    assert row["fit"]["need_bytes"] > 0 and row["fit"]["kv_bytes"] > 0


def test_an_added_onnx_phi_folder_answers_with_the_phi_template_and_stops(added):
    out = chat_once(ONNX, QUESTION, system=SYSTEM, params=GREEDY)
    assert out.error is None and out.text.strip() == "Paris" and out.finish_reason == "stop"
    backend = get_backend("onnx")
    loaded = backend.load("phi3-shaped-int4")
    assert backend.prompt_text(loaded, (Message("system", SYSTEM), Message("user", QUESTION))) == PHI_PROMPT
    row = next(m for m in model_manager.overview()["installed"] if m["target"] == ONNX)
    # its shape from genai_config.json (2 layers, 4 KV heads of 16), not from the "Phi-3-mini" in its name
    assert row["fit"]["format"] == "int4" and row["fit"]["kv_bytes"] == 2 * 2 * 4 * 16 * 4096 * 4


def test_an_added_phi_gguf_answers_with_the_phi_template_and_stops(added):
    out = chat_once(GGUF, QUESTION, system=SYSTEM, params=GREEDY)
    # its eos is <|endoftext|>, as in the published Phi-3 GGUFs: <|end|> ends the turn all the same
    assert out.error is None and out.text.strip() == "Paris" and out.finish_reason == "stop"
    backend = get_backend("llamacpp")
    loaded = backend.load("phi3-shaped-f32")
    ids, _stops = backend.prompt_tokens(loaded, (Message("system", SYSTEM), Message("user", QUESTION)))
    assert loaded.llm.detokenize(ids, special=True).decode() == PHI_PROMPT
    row = next(m for m in model_manager.overview()["installed"] if m["target"] == GGUF)
    # its shape from the GGUF header, f16 KV cache at 4,096 tokens; f32 weights as on disk
    assert row["fit"]["format"] == "fp32" and row["fit"]["kv_bytes"] == 2 * 2 * 4 * 16 * 4096 * 2


def test_compare_runs_the_three_added_runtimes_side_by_side(added):
    run = run_compare(CompareSpec.build(QUESTION, [HF, ONNX, GGUF], GREEDY, system=SYSTEM))
    for r in run.results:
        assert r.ok, r.error
        assert r.text.strip() == "Paris" and r.finish_reason == "stop"
        assert r.metrics["completion_tokens"] <= 2


def test_the_budget_spans_runtimes_answering_on_one_unloads_the_idle_other(added, monkeypatch):
    assert chat_once(GGUF, QUESTION, system=SYSTEM, params=GREEDY).error is None
    assert chat_once(ONNX, QUESTION, system=SYSTEM, params=GREEDY).error is None
    sizes = {b.name: r.bytes for b, r in memory.residents() if r.key.endswith(("phi3-shaped-f32.gguf", "phi3-shaped-int4"))}
    assert set(sizes) == {"llamacpp", "onnx"} and all(sizes.values())
    # room for one of them: answering on llama.cpp again unloads the idle ONNX copy
    monkeypatch.setenv("PHI_PLAYGROUND_MODEL_MEMORY_GB", str(1.2 * max(sizes.values()) / memory.GB))
    get_backend("llamacpp").unload(next(r.key for r in get_backend("llamacpp").loaded()
                                        if r.key.endswith("phi3-shaped-f32.gguf")))
    assert chat_once(GGUF, QUESTION, system=SYSTEM, params=GREEDY).error is None
    held = {b.name for b, r in memory.residents() if r.key.endswith(("phi3-shaped-f32.gguf", "phi3-shaped-int4"))}
    assert held == {"llamacpp"}
