"""The openai: backend against a real server: llama.cpp's OpenAI-compatible server on the embedded GGUF."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from services.models import embedded
from services.backends.openai_backend import CustomOpenAIBackend
from services.chat import start_chat
from services.types import GenerationParams, Message
from tests.fixtures.questions import CAPITAL
from tests.standins._loopback import free_port

pytestmark = pytest.mark.integration

ALIAS = "smollm2-135m-instruct"
SYSTEM = Message("system", "You are a helpful assistant.")
QUESTION = Message("user", CAPITAL)  # one greedy answer on every CPU (see questions.py)


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if pytest itself is killed before its finalizer runs."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@pytest.fixture(scope="module")
def server_url():
    """`python -m llama_cpp.server` on a free loopback port; always killed afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded.gguf_path()),
           "--model_alias", ALIAS, "--chat_format", "chatml", "--n_ctx", "2048",
           "--host", "127.0.0.1", "--port", str(port), "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not become ready in 180 s")
            time.sleep(0.5)
        yield url
    finally:
        # the whole process group, so no worker outlives the tests
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.poll() is not None


@pytest.fixture
def configured(server_url, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", server_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("PHI_PLAYGROUND_SECRETS", str(tmp_path / "absent.toml"))
    return server_url


def test_streams_an_answer_with_metrics(configured):
    s = start_chat(f"openai:{ALIAS}", [SYSTEM, QUESTION], GenerationParams(temperature=0, max_tokens=16))
    pieces = list(s)
    assert len(pieces) > 1  # streamed, not one block
    assert "Paris" in s.outcome.text and s.outcome.finish_reason == "stop"
    m = s.outcome.metrics
    assert m.ttft_s and m.total_s >= m.ttft_s and m.decode_tokens_per_s
    assert m.completion_tokens and m.completion_tokens > 1
    assert m.peak_rss_mb is None  # a remote server's memory is not ours to report
    print(f"\nllama.cpp server via openai: ttft {m.ttft_s:.3f} s, {m.decode_tokens_per_s} tok/s, "
          f"usage {m.prompt_tokens}/{m.completion_tokens}")


def test_max_tokens_and_stop_are_honoured(configured):
    short = start_chat(f"openai:{ALIAS}", [SYSTEM, QUESTION],
                       GenerationParams(temperature=0, max_tokens=3)).finish()
    assert short.finish_reason == "length"
    assert short.metrics.completion_tokens <= 3
    stopped = start_chat(f"openai:{ALIAS}", [SYSTEM, QUESTION],
                         GenerationParams(temperature=0, max_tokens=16, stop=("Paris",))).finish()
    assert stopped.text and "Paris" not in stopped.text


def test_models_are_discovered(configured):
    infos = {i.target: i for i in CustomOpenAIBackend().list_targets()}
    assert infos[f"openai:{ALIAS}"].available
    assert infos[f"openai:{ALIAS}"].family == "SmolLM2-135M"
    assert not infos[f"openai:{ALIAS}"].capabilities.local
