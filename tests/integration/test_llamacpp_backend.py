"""llama.cpp in process on the embedded GGUF: answers, params, and the prompt cache across turns."""

from __future__ import annotations

import pytest

from services.chat import start_chat
from services.errors import BadRequest
from services.targets import list_targets
from services.types import GenerationParams, Message
from tests.fixtures.questions import CAPITAL

pytestmark = pytest.mark.integration

TARGET = "llamacpp:smollm2-135m-instruct"
# SmolLM2-135M at Q4_1 answers well with a plain system prompt (its template's default one
# makes this small quantized copy ramble)
SYSTEM = Message("system", "You are a helpful assistant.")
QUESTION = Message("user", CAPITAL)  # one greedy answer on every CPU (see questions.py)


def test_answer_metrics_and_prompt_cache_across_turns():
    first = start_chat(TARGET, [SYSTEM, QUESTION], GenerationParams(temperature=0, max_tokens=8)).finish()
    assert "Paris" in first.text
    m = first.metrics
    assert m.ttft_s and m.decode_tokens_per_s and m.prompt_tokens > 10 and m.completion_tokens > 1
    assert m.peak_rss_mb and m.load_s >= 0
    history = [SYSTEM, QUESTION, Message("assistant", first.text), Message("user", "And Germany?")]
    second = start_chat(TARGET, history, GenerationParams(temperature=0, max_tokens=4)).finish()
    assert second.text
    # the first turn's prompt is still in llama.cpp's context: not evaluated again
    assert second.metrics.server["prompt_cache_tokens"] >= first.metrics.prompt_tokens
    print(f"\nllama.cpp in process: ttft {m.ttft_s:.3f} s, {m.decode_tokens_per_s} tok/s; "
          f"turn 2 reused {second.metrics.server['prompt_cache_tokens']} prompt tokens, "
          f"ttft {second.metrics.ttft_s:.3f} s")


def test_max_tokens_and_stop_are_honoured():
    short = start_chat(TARGET, [SYSTEM, QUESTION], GenerationParams(temperature=0, max_tokens=3)).finish()
    assert short.finish_reason == "length" and short.metrics.completion_tokens == 3
    stopped = start_chat(TARGET, [SYSTEM, QUESTION],
                         GenerationParams(temperature=0, max_tokens=8, stop=("Paris",))).finish()
    assert stopped.text and "Paris" not in stopped.text and stopped.finish_reason == "stop"


def test_missing_gguf_path_is_a_clear_error(tmp_path):
    with pytest.raises(BadRequest) as info:
        start_chat(f"llamacpp:{tmp_path / 'nope.gguf'}", [QUESTION]).text()
    assert "No GGUF file" in info.value.user_message()


def test_embedded_target_is_listed():
    infos = {i.target: i for i in list_targets()}
    assert infos[TARGET].available and infos[TARGET].family == "SmolLM2-135M"


def test_abandoned_stream_frees_the_model_for_the_next_answer():
    from services.backends import get_backend

    s = start_chat(TARGET, [SYSTEM, QUESTION], GenerationParams(temperature=0.7, max_tokens=32))
    chunks = iter(s)
    next(chunks), next(chunks)
    s.close()  # what a Streamlit rerun does
    assert s.outcome.finish_reason == "cancelled"
    loaded = get_backend("llamacpp").load("smollm2-135m-instruct")
    assert not loaded.lock.locked()
