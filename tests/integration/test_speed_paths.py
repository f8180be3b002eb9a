"""Optimised paths give the same tokens as the plain path at temperature 0 (prefix reuse, fast loop)."""


import pytest

from services.chat import start_chat
from services.types import GenerationParams, Message
from tests.fixtures.plain_paths import plain_generate, plain_onnx

pytestmark = pytest.mark.integration
EMB = "smollm2-135m-instruct"
# plain greedy, no penalty: the reference loops apply none (local runtimes default to 1.1)
GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=24)
QUESTIONS = ["What is the capital of France?", "And of Germany?", "Name a river there.",
             "What is the capital of France?"]




def _conversation(target, plain, max_new=GREEDY.max_tokens):
    """Four turns through the service (state kept between them), each checked against the plain path."""
    history, reused = [], []
    for q in QUESTIONS:
        history.append(Message("user", q))
        stream = start_chat(target, history, GenerationParams(temperature=0, repetition_penalty=1.0,
                                                               max_tokens=max_new)).finish()
        assert stream.text == plain(history, max_new), f"turn {len(reused) + 1} differs"
        reused.append(stream.metrics.server.get("prompt_cache_tokens", 0))
        history.append(Message("assistant", stream.text))
    return reused


def test_onnx_multi_turn_reuse_keeps_greedy_answers(embedded_paths):
    reused = _conversation(f"onnx:{EMB}", plain_onnx)
    # later turns really were served from the kept generator
    assert all(n > 0 for n in reused[1:]), reused


def test_transformers_fast_path_and_reuse_keep_greedy_answers(embedded_paths):
    reused = _conversation(f"transformers:{EMB}", lambda h, n: plain_generate(EMB, h, n), max_new=16)
    assert all(n > 0 for n in reused[1:]), reused


def test_tiny_phi3_fast_path_equals_generate(tiny_phi3):
    # a Phi-3 architecture with several stop ids and a multi-byte prompt
    history = [Message("user", "Phi-3 routes tokens 東京")]
    out = start_chat(f"transformers:{tiny_phi3}", history, GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=20)).finish()
    assert out.text == plain_generate(str(tiny_phi3), history, 20)


def test_onnx_reuse_survives_stop_string_and_cancel(embedded_paths):
    target = f"onnx:{EMB}"
    history = [Message("user", "List three colours, one per line.")]
    cut = start_chat(target, history, GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=32, stop=("\n",))).finish()
    assert "\n" not in cut.text
    stream = start_chat(target, history, GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=32))
    next(iter(stream))
    stream.close()
    again = start_chat(target, history, GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=32)).finish()
    assert again.metrics.server.get("prompt_cache_tokens", 0) > 0
    assert again.text == plain_onnx(history, 32)


def test_sampling_with_seed_is_repeatable_despite_kept_state(embedded_paths):
    params = GenerationParams(temperature=0.9, top_p=0.95, seed=7, max_tokens=16)
    history = [Message("user", "Invent a name for a cat.")]
    first = start_chat(f"onnx:{EMB}", history, params).finish().text
    second = start_chat(f"onnx:{EMB}", history, params).finish().text
    assert first == second


def test_bf16_setting_fast_path_equals_bf16_generate(tiny_phi3, monkeypatch):
    import torch

    from services.backends.transformers.backend import TransformersBackend
    from services.streaming import Answer
    from services.types import ChatRequest, Target

    monkeypatch.setenv("PHI_TRANSFORMERS_DTYPE", "bfloat16")
    backend = TransformersBackend()  # its own model cache: the shared one stays fp32
    loaded = backend.load(str(tiny_phi3))
    assert loaded.model.dtype == torch.bfloat16
    history = (Message("user", "Phi-3 routes tokens 東京"),)
    request = ChatRequest(Target("transformers", str(tiny_phi3)), history, GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=20))
    text = Answer(backend, request).finish().text
    ids = backend.prompt_ids(loaded, history)
    with torch.inference_mode():
        out = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=20,
                                    do_sample=False, eos_token_id=loaded.eos_ids, pad_token_id=loaded.eos_ids[0])
    assert text == loaded.tokenizer.decode(out[0, ids.shape[-1]:], skip_special_tokens=True)


def test_bad_dtype_setting_is_a_clear_error(tiny_phi3, monkeypatch):
    from services.backends.transformers.backend import TransformersBackend
    from services.errors import BadRequest

    monkeypatch.setenv("PHI_TRANSFORMERS_DTYPE", "int3")
    with pytest.raises(BadRequest, match="PHI_TRANSFORMERS_DTYPE"):
        TransformersBackend().load(str(tiny_phi3))


def test_llamacpp_thread_count_change_keeps_greedy_answers(embedded_paths, monkeypatch):
    # the backend picks its thread count per answer (fewer on a busy machine): the same model
    # switched between 1 and 2 threads must give the same greedy text, and so must a fresh Llama
    import llama_cpp

    from services.backends import get_backend
    from services.backends.llamacpp_backend import LlamaCppBackend
    from services.models.embedded import gguf_path

    history = [Message("user", "Name three rivers in Europe.")]
    texts = {}
    for threads in ("1", "2", "1"):
        monkeypatch.setenv("LLAMACPP_N_THREADS", threads)
        out = start_chat(f"llamacpp:{EMB}", history, GREEDY).finish()
        loaded = get_backend("llamacpp").load(EMB)
        assert llama_cpp.llama_n_threads(loaded.llm.ctx) == int(threads)
        texts.setdefault(threads, []).append(out.text)
    assert texts["1"][0] == texts["2"][0] == texts["1"][1]
    monkeypatch.setenv("LLAMACPP_N_THREADS", "2")
    fresh = LlamaCppBackend()  # its own Llama, loaded with 2 threads from the start
    assert fresh.load(EMB).path == gguf_path()
    from services.streaming import Answer
    from services.types import ChatRequest, Target

    again = Answer(fresh, ChatRequest(Target("llamacpp", EMB), tuple(history), GREEDY)).finish()
    assert again.text == texts["2"][0]
