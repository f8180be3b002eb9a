"""Compare over HTTP: remote columns stream at once, a target with no key fails alone, Stop closes streams.

The OpenAI-compatible server here is the loopback stand-in from tests/standins (a real HTTP server
speaking the documented SSE format), so no model is loaded.
"""

import time

import pytest

from services import config
from services.compare.run import CompareSpec, plan, run_compare, start_compare
from services.types import GenerationParams
from tests.standins.openai_sse import OpenAIStandIn, Reply

NO_KEY = "github:microsoft/phi-3.5-mini-instruct"


def wait_closed(srv, within_s: float = 5.0) -> int:
    """Open connections once the server has noticed the client hung up (its threads lag a little)."""
    deadline = time.monotonic() + within_s
    while srv.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    return srv.open_connections


@pytest.fixture
def no_github_key(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_MODELS_TOKEN", raising=False)


def test_remote_columns_run_at_once_and_a_keyless_target_fails_alone(no_github_key):
    with OpenAIStandIn(models=("m-a", "m-b"), token_delay=0.02) as srv:
        # typed for this session (a context variable): the worker threads must see it too
        with config.session({"OPENAI_BASE_URL": srv.url}):
            spec = CompareSpec.build("Say hello.", ["openai:m-a", NO_KEY, "openai:m-b"],
                                     GenerationParams(temperature=0, max_tokens=16))
            assert plan(spec) == [[0], [1], [2]]
            run = start_compare(spec)
            events = list(run.events())
            run.close()
        assert sorted(r.json["model"] for r in srv.chat_requests) == ["m-a", "m-b"]
        assert wait_closed(srv) == 0
    a, missing, b = run.results
    for r in (a, b):
        assert r.ok and r.text == "Hello from the stand-in."
        assert r.metrics["ttft_s"] > 0 and r.metrics["completion_tokens"] == 5
        assert r.mode == "concurrent" and not r.local
    assert missing.status == "error" and "GITHUB_TOKEN" in missing.error
    assert missing.to_json() == {"target": NO_KEY, "error": missing.error}
    # both HTTP columns were streaming together: the last one started before the first finished
    order = [(e.index, e.kind) for e in events]
    assert order.index((2, "start")) < order.index((0, "done"))
    assert order.count((0, "token")) == 5


def test_close_stops_every_column_and_keeps_partial_text():
    long = Reply.text(" ".join(f"w{i}" for i in range(200)))
    with OpenAIStandIn(models=("m-a", "m-b"), token_delay=0.05, default=long) as srv:
        with config.session({"OPENAI_BASE_URL": srv.url}):
            run = start_compare(CompareSpec.build("Count.", ["openai:m-a", "openai:m-b"]))
            seen = 0
            for event in run.events():
                seen += event.kind == "token"
                if seen >= 4:
                    break
            run.close()
        # the server sees the connections go away once the streams are closed
        assert wait_closed(srv) == 0
    for r in run.results:
        assert r.finish_reason == "cancelled"
        assert r.text.startswith("w0") and len(r.text.split()) < 200


def test_run_compare_reports_wall_time_for_the_whole_run():
    with OpenAIStandIn(models=("m-a", "m-b")) as srv, config.session({"OPENAI_BASE_URL": srv.url}):
        run = run_compare(CompareSpec.build("Hi", ["openai:m-a", "openai:m-b"]))
    assert all(r.ok for r in run.results)
    assert run.wall_s >= max(r.metrics["total_s"] for r in run.results)
