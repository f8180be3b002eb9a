"""AppTest: the compare page runs the two embedded targets, shows their cards, votes blind, loads run files."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.readable import readable

pytestmark = pytest.mark.integration

ONNX = "onnx:smollm2-135m-instruct"
HF = "transformers:smollm2-135m-instruct"


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    return at


def test_page_runs_both_embedded_targets(embedded_paths):
    at = page()
    assert any("Compare" in t.value for t in at.title)
    # the default is the "one model, two runtimes" pair
    assert at.multiselect(key="cmp_targets").value == [ONNX, HF]
    at.slider(key="cmp_temperature").set_value(0.0)
    at.number_input(key="cmp_max_tokens").set_value(10)
    at.text_area(key="cmp_prompt").set_value("What is the capital of France?")
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    # two metrics cards of three figures each, one per column
    assert len(at.metric) == 6
    assert [m.label for m in at.metric[:3]] == ["TTFT", "Tokens/s", "Total"]
    assert sum("Paris" in md.value for md in at.markdown) >= 2
    assert any("ran on its own" in c.value for c in at.caption)
    assert any("Fastest:" in c.value for c in at.caption)
    assert at.get("download_button")
    last = at.session_state["cmp_last"].run
    assert [r["target"] for r in last["results"]] == [ONNX, HF]
    assert last["id"]  # saved in the store


def _fake_finished_run(blind: bool):
    """A finished run as the page keeps it (what an earlier Compare click leaves in the session)."""
    from services.compare.run import ColumnResult, CompareSpec
    from services.compare.runfile import build_run
    from services.compare.saved import Saved
    from services.types import GenerationParams

    spec = CompareSpec.build("Name a colour.", ["onnx:model-x", "onnx:model-y"])
    results = [ColumnResult(0, "onnx:model-x", GenerationParams(), status="done", text="Blue.",
                            metrics={"decode_tokens_per_s": 50.0, "ttft_s": 0.1, "total_s": 0.5}, finish_reason="stop"),
               ColumnResult(1, "onnx:model-y", GenerationParams(), status="done", text="Red, like a rose.",
                            metrics={"decode_tokens_per_s": 25.0, "ttft_s": 0.2, "total_s": 1.0}, finish_reason="stop")]
    return Saved(build_run(spec, results, wall_s=1.5), blind)


def test_blind_vote_hides_names_then_reveals_and_updates_the_leaderboard():
    from services.conversations.store import open_store

    before = len(open_store().list_votes())
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["cmp_last"] = _fake_finished_run(blind=True)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert len(at.metric) == 0  # speeds would give the names away
    assert not any("model-x" in md.value for md in at.markdown)
    assert any("Model A" in md.value for md in at.markdown)
    at.button(key="cmp_vote_b").click().run()
    assert not at.exception
    assert any("Model A was onnx:model-x" in readable(s.value) for s in at.success)
    assert len(at.metric) == 6
    votes = open_store().list_votes()
    assert len(votes) == before + 1
    assert (votes[-1]["target_a"], votes[-1]["target_b"], votes[-1]["outcome"]) == ("onnx:model-x", "onnx:model-y", "b")
    board = at.dataframe[0].value
    assert set(board["target"]) >= {"onnx:model-x", "onnx:model-y"}
    assert at.session_state["cmp_last"].run["votes"][0]["outcome"] == "b"


def test_word_diff_between_two_columns():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["cmp_last"] = _fake_finished_run(blind=False)
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    diff = [md.value for md in at.markdown if "red-background" in md.value]
    assert diff == [r":red-background[~~Blue\.~~] :green-background[Red\, like a rose\.]"]
    assert any("0% of words in common" in c.value for c in at.caption)


def test_failed_column_shows_an_error_card_while_the_other_answers(monkeypatch):
    from tests.standins.openai_sse import OpenAIStandIn

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    no_key = "github:microsoft/phi-3.5-mini-instruct"
    with OpenAIStandIn(models=("m-a",), token_delay=0.01) as srv:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        # typed on the Models page for this session; the compare workers must see it too
        at.session_state["provider_keys"] = {"OPENAI_BASE_URL": srv.url}
        at.session_state["cmp_targets"] = ["openai:m-a", no_key]
        at.switch_page("app_pages/compare.py").run()
        assert not at.exception
        at.text_area(key="cmp_prompt").set_value("Say hello.")
        at.button(key="cmp_run").click().run()
        assert not at.exception
    assert any("Hello from the stand-in." in readable(md.value) for md in at.markdown)
    assert len(at.metric) == 3  # one card, for the column that answered
    assert any("GITHUB_TOKEN is not set" in readable(e.value) for e in at.error)
    assert not any("Traceback" in e.value for e in at.error)


def test_load_a_run_file_show_it_and_rerun_it():
    from services.compare import runfile
    from tests.standins.openai_sse import OpenAIStandIn

    shared = runfile.dumps(_fake_finished_run(blind=False).run).encode()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/compare.py").run()
    at.file_uploader(key="cmp_upload").set_value([("run.json", b"{not json", "application/json")]).run()
    assert any("not JSON" in e.value for e in at.error)
    at.file_uploader(key="cmp_upload").set_value([("run.json", shared, "application/json")]).run()
    assert not at.exception and not at.error
    at.button(key="cmp_show_loaded").click().run()
    assert any("Red, like a rose." in readable(md.value) for md in at.markdown)
    assert len(at.metric) == 6

    with OpenAIStandIn(models=("m-a", "m-b")) as srv:
        from services.compare.run import CompareSpec

        spec = CompareSpec.build("Say hello.", ["openai:m-a", "openai:m-b"])
        at.session_state["provider_keys"] = {"OPENAI_BASE_URL": srv.url}
        at.file_uploader(key="cmp_upload").set_value(
            [("run2.json", runfile.dumps(runfile.build_run(spec)).encode(), "application/json")]).run()
        at.button(key="cmp_rerun").click().run()
        assert not at.exception
        assert sorted(r.json["model"] for r in srv.chat_requests) == ["m-a", "m-b"]
    last = at.session_state["cmp_last"].run
    assert [r["target"] for r in last["results"]] == ["openai:m-a", "openai:m-b"]
    assert all(r["text"] == "Hello from the stand-in." for r in last["results"])
    assert len(at.metric) == 6


def test_presets_fill_the_target_picker(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("NVIDIA_API_KEY", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/compare.py").run()
    names = at.selectbox(key="cmp_preset").options
    phi = next(n for n in names if n.startswith("Phi-3 vs Phi-3.5"))
    assert phi.endswith("(not available here)")
    at.selectbox(key="cmp_preset").set_value(phi.replace("  (not available here)", "")).run()
    assert not at.exception
    assert at.multiselect(key="cmp_targets").value == ["github:microsoft/phi-3-mini-4k-instruct",
                                                      "github:microsoft/phi-3.5-mini-instruct"]
    assert any("GitHub Models or NVIDIA NIM key" in i.value for i in at.info)
    assert any("is unavailable" in w.value for w in at.warning)
