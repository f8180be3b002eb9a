"""At the app's default parameters the embedded model answers every bundled short instruction and stops.

The failure this guards against: an answer that runs to the token limit repeating itself. Whether an
answer is right is measured by the benchmark (bench/quality.py), not asserted here.
"""

import pytest

from bench import answers
from services.chat import start_chat
from services.types import GenerationParams, Message

pytestmark = pytest.mark.integration
EMB = "smollm2-135m-instruct"
# the app's defaults; a fixed seed makes a failure repeatable
DEFAULTS = GenerationParams(seed=0)


@pytest.mark.parametrize("backend", ["onnx", "llamacpp", "transformers"])
def test_no_bundled_instruction_loops_to_the_limit(embedded_paths, backend):
    loops = []
    for item in answers.load_instructions():
        s = start_chat(f"{backend}:{EMB}", [Message("user", item["prompt"])], DEFAULTS).finish()
        if answers.looped(s.text, s.finish_reason):
            loops.append((item["id"], answers.repeated_ngram(s.text), s.text[-120:]))
    assert loops == []


@pytest.mark.parametrize("backend", ["onnx", "llamacpp", "transformers"])
def test_the_first_questions_stop_on_their_own(embedded_paths, backend):
    # whether they are right is the benchmark's answer count: the fp32 model itself puts "The" (0.15)
    # and "L'" (0.14) nearly level as the first word for France, so a sampled answer may wander
    for prompt in ("What is the capital of France?", "Write a haiku about the sea.", "What is 12 + 7?"):
        for seed in (0, 1):
            s = start_chat(f"{backend}:{EMB}", [Message("user", prompt)], GenerationParams(seed=seed)).finish()
            # on their own, well before the 512-token limit (12 + 7 can get a paragraph, even from fp32)
            assert s.finish_reason == "stop" and s.metrics.completion_tokens < 256, (prompt, seed, s.text)
