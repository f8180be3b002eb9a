"""Soak at the service layer: 200 turns with random aborts mid-stream leave no memory, threads or sockets behind.

The OpenAI-compatible target is the loopback stand-in (tests/standins/openai_sse.py), because no
cloud API can run here; the local targets are the real embedded model on two runtimes.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from pathlib import Path

import pytest

from services.chat import start_chat
from services.types import GenerationParams, Message
from tests.standins.openai_sse import OpenAIStandIn, Reply

pytestmark = pytest.mark.integration

TURNS = 200
WARMUP = 20
# (target, weight): the fast local runtime most, the threaded one and the HTTP one often enough
TARGETS = [("onnx:smollm2-135m-instruct", 0.5), ("openai:standin-model", 0.4),
           ("transformers:smollm2-135m-instruct", 0.1)]
QUESTIONS = ["What is the capital of France?", "Count to five.", "Name a colour.", "Say hello."]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def worker_threads(exclude: set[int]) -> list[str]:
    """Live threads other than the main one and those that existed before (the stand-in's server)."""
    return sorted(t.name for t in threading.enumerate()
                  if t is not threading.main_thread() and t.ident not in exclude)


def settle(check, timeout_s: float = 10.0):
    """Poll until check() is falsy (threads join and sockets close a moment after close())."""
    deadline = time.monotonic() + timeout_s
    while (left := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_200_turns_with_random_aborts(embedded_paths, monkeypatch, tmp_path):
    rng = random.Random(20261126)
    # long enough that an abort lands mid-stream; a little delay per chunk, as a server has
    reply = Reply.text("one two three four five six seven eight nine ten eleven twelve", token_delay=0.002)
    with OpenAIStandIn(default=reply) as srv:
        # a developer's own secrets.toml must not point the target elsewhere
        monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "no-secrets.toml"))
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        before = {t.ident for t in threading.enumerate()}
        params = GenerationParams(max_tokens=6, temperature=0.7, seed=1)
        names, weights = zip(*TARGETS, strict=True)
        stats = {"aborted": 0, "finished": 0}
        base_rss = base_threads = None
        for turn in range(TURNS):
            if turn == WARMUP:
                gc.collect()
                base_rss = rss_mb()
                base_threads = worker_threads(before)
            target = rng.choices(names, weights)[0]
            stream = start_chat(target, [Message("user", rng.choice(QUESTIONS))], params)
            abort_after = rng.choice([None, 0, 1, 2, 3])
            with stream:
                for n, _piece in enumerate(stream):
                    if abort_after is not None and n >= abort_after:
                        break  # what a Streamlit rerun does to a running answer
            if abort_after is not None and stream.outcome.finish_reason in (None, "cancelled"):
                stats["aborted"] += 1
            else:
                stats["finished"] += 1
                assert stream.outcome.text, f"turn {turn} on {target} ended with no text"
        gc.collect()
        end_rss = rss_mb()
        leftover = settle(lambda: [n for n in worker_threads(before) if n not in base_threads])
        open_conns = settle(lambda: srv.open_connections)
        served = len(srv.chat_requests)
    growth = (end_rss - base_rss) / base_rss
    print(f"\nsoak: {TURNS} turns ({stats['aborted']} aborted mid-stream, {stats['finished']} finished), "
          f"{served} over HTTP; RSS after warm-up {base_rss:.0f} MB -> {end_rss:.0f} MB ({growth:+.1%})")
    assert stats["aborted"] >= 60 and stats["finished"] >= 30
    assert leftover == [], f"threads left running: {leftover}"
    assert open_conns == 0, f"{open_conns} connections to the stand-in still open"
    assert abs(growth) <= 0.10, f"resident memory moved {growth:+.1%} after warm-up"
