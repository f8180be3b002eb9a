"""The embedded model answers through both local backends, streamed exactly as generated."""

import json
import subprocess
import sys
import threading
import time

import pytest

from services.chat import DEFAULT_TARGET, chat_once, start_chat
from services.types import GenerationParams, Message
from tests.fixtures.plain_paths import plain_generate, plain_onnx
from tests.fixtures.questions import CAPITAL

pytestmark = pytest.mark.integration
# plain greedy, no penalty: the reference loops apply none (local runtimes default to 1.1)
GREEDY = GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=48)
EMBEDDED = "smollm2-135m-instruct"


def test_onnx_answers_paris_with_metrics(embedded_paths):
    # the default repetition penalty: without it the int8 build's greedy answer stays in French
    # ("L'Étoile, la Cité, ..."), the first word being nearly a tie even in fp32
    out = chat_once(f"onnx:{EMBEDDED}", "What is the capital of France?",
                    params=GenerationParams(temperature=0, max_tokens=48))
    assert "Paris" in out.text
    m = out.metrics
    assert m.ttft_s > 0 and m.completion_tokens > 0 and m.prompt_tokens > 0
    assert m.total_s >= m.ttft_s and m.decode_tokens_per_s > 0
    assert out.finish_reason in ("stop", "length")


def test_transformers_answers_paris(embedded_paths):
    out = chat_once(f"transformers:{EMBEDDED}", "What is the capital of France?", params=GREEDY)
    assert "Paris" in out.text
    assert out.metrics.completion_tokens > 0


@pytest.mark.parametrize("prompt", ["Write a haiku about the sea.", "List three colours, one per line."])
def test_onnx_stream_equals_plain_loop(embedded_paths, prompt):
    streamed = chat_once(f"onnx:{EMBEDDED}", prompt, params=GREEDY).text
    assert streamed == plain_onnx((Message("user", prompt),), GREEDY.max_tokens)


def test_transformers_stream_equals_generate(embedded_paths):
    prompt = "Name two planets."
    streamed = chat_once(f"transformers:{EMBEDDED}", prompt, params=GREEDY).text
    assert streamed == plain_generate(EMBEDDED, (Message("user", prompt),), GREEDY.max_tokens)


def test_tiny_phi3_stream_equals_generate(tiny_phi3):
    prompt = "Phi-3 routes tokens 東京"
    params = GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=24)
    streamed = chat_once(f"transformers:{tiny_phi3}", prompt, params=params).text
    assert streamed == plain_generate(str(tiny_phi3), (Message("user", prompt),), 24)


@pytest.mark.parametrize(
    "params",
    [
        # sampling goes through generate() in a worker thread
        GenerationParams(temperature=0.7, seed=1, max_tokens=400),
        # greedy goes through the pull loop (no thread): closing must still stop it and free the lock
        GenerationParams(temperature=0, repetition_penalty=1.0, max_tokens=400),
    ],
    ids=["generate-thread", "greedy-pull-loop"],
)
def test_closing_transformers_stream_stops_generation(embedded_paths, params):
    stream = start_chat(f"transformers:{EMBEDDED}", [Message("user", "Count from one to one hundred.")], params)
    chunks = iter(stream)
    next(chunks), next(chunks)
    # the sampling case really runs in the worker thread this test is about
    assert any(t.name == "transformers-generate" for t in threading.enumerate()) == (params.temperature > 0)
    stream.close()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(t.name == "transformers-generate" for t in threading.enumerate()):
        time.sleep(0.05)
    assert not any(t.name == "transformers-generate" for t in threading.enumerate())
    assert stream.outcome.finish_reason == "cancelled"
    assert 2 <= stream.outcome.metrics.completion_tokens < 400
    # the model lock was released: the next request runs
    assert chat_once(f"transformers:{EMBEDDED}", "Hi", params=GenerationParams(temperature=0, max_tokens=4)).text


def test_stop_strings_and_max_tokens(embedded_paths):
    out = chat_once(f"onnx:{EMBEDDED}", "List three colours, one per line.",
                    params=GenerationParams(temperature=0, max_tokens=64, stop=("\n",)))
    assert "\n" not in out.text
    short = chat_once(f"onnx:{EMBEDDED}", "Tell me a long story.", params=GenerationParams(temperature=0, max_tokens=5))
    assert short.metrics.completion_tokens == 5 and short.finish_reason == "length"


def test_cli_chat_json(embedded_paths):
    proc = subprocess.run([sys.executable, "-m", "services", "chat", "--json", "--temperature", "0",
                           CAPITAL], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["target"] == DEFAULT_TARGET == f"llamacpp:{EMBEDDED}"  # the default follows the measurement
    assert "Paris" in data["text"]
    assert set(data["metrics"]) >= {"ttft_s", "decode_tokens_per_s", "prompt_tokens", "completion_tokens",
                                    "total_s", "load_s"}


def test_cli_errors_are_one_line(embedded_paths):
    for args, needle in [(["chat", "   "], "empty"), (["chat", "hi", "--target", "nope:x"], "Valid targets"),
                         (["chat", "hi", "--temperature", "-1"], "temperature")]:
        proc = subprocess.run([sys.executable, "-m", "services", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert needle in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
