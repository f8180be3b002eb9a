"""AppTest: the MoE reasoning page loads and runs a preset on the embedded target."""

import pytest
from streamlit.testing.v1 import AppTest

from services.chat import DEFAULT_TARGET
from tests.conftest import ROOT
from tests.readable import readable

pytestmark = pytest.mark.integration


def moe_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    return at.switch_page("app_pages/moe.py").run()


def test_page_loads(embedded_paths):
    at = moe_page()
    assert not at.exception
    assert any("MoE reasoning" in t.value for t in at.title)
    assert at.selectbox(key="moe_preset").value == "math"
    # the embedded model is dense: routing is off and says why
    assert at.toggle(key="moe_want_routing").disabled
    assert any("local mixture-of-experts" in i.value for i in at.info)


def test_runs_a_preset_on_embedded(embedded_paths):
    at = moe_page()
    at.selectbox(key="moe_preset").set_value("logic").run()
    at.number_input(key="moe_max_tokens").set_value(32)
    at.button(key="moe_run").click().run()
    assert not at.exception
    assert not at.error
    labels = [m.label for m in at.metric]
    assert "Final answer" in labels and "Agreement" in labels
    assert at.metric[labels.index("Agreement")].value == "100%" or at.metric[0].value == "none found"
    assert any(e.label.startswith("Sample 1") for e in at.expander)


def test_empty_question_is_refused(embedded_paths):
    at = moe_page()
    at.text_area(key="moe_question_math").set_value("   ")
    at.button(key="moe_run").click().run()
    assert not at.exception
    assert any("empty" in w.value for w in at.warning)
    assert not at.metric


@pytest.fixture
def installed_tiny_moe(tiny_phimoe):
    """The tiny MoE copied into the models folder, so the picker lists it; removed afterwards."""
    import shutil

    import streamlit as st

    from services.models import local as local_models

    folder = local_models.models_root() / "transformers" / "tiny-phimoe-routing"
    shutil.copytree(tiny_phimoe, folder)
    st.cache_data.clear()  # the picker caches the target list
    yield "transformers:tiny-phimoe-routing"
    shutil.rmtree(folder, ignore_errors=True)
    st.cache_data.clear()


def test_routing_tab_on_local_moe(installed_tiny_moe):
    at = moe_page()
    at.selectbox(key="moe_target").set_value(installed_tiny_moe).run()
    assert not at.exception
    assert any("expert routing can be recorded" in s.value for s in at.success)
    at.number_input(key="moe_max_tokens").set_value(4)
    at.button(key="moe_route_run").click().run()
    assert not at.exception and not at.error
    assert any("token-layer records" in c.value for c in at.caption)
    assert any("Mean routing distance" in m.label for m in at.metric)
    # readable routing: entropy and balance per prompt, the model's facts, the fair note on random weights
    labels = [m.label for m in at.metric]
    assert labels.count("Routing entropy (1 = spread evenly)") == 2 and labels.count("Load imbalance (CV)") == 2
    assert any("These weights are random" in w.value and "marked as holding random weights" in w.value
               for w in at.warning)
    assert any("phimoe · 4 experts, top-2" in readable(c.value) for c in at.caption)
    assert any("sparsemixer" in c.value for c in at.caption)
    assert any("active per token" in c.value for c in at.sidebar.caption)
    assert at.selectbox(key="moe_route_A_spec_layer").options == ["0", "1"]
    # self-consistency with routing on the first sample
    at.toggle(key="moe_want_routing").set_value(True)
    at.number_input(key="moe_samples").set_value(2)
    at.button(key="moe_run").click().run()
    assert not at.exception and not at.error
    assert sum(e.label.startswith("Sample") for e in at.expander) == 2


def test_problem_set_tab_scores_the_embedded_target(embedded_paths):
    at = moe_page()
    at.number_input(key="moe_max_tokens").set_value(16)
    at.multiselect(key="moe_suite_cats").set_value(["logic"])
    at.number_input(key="moe_suite_limit").set_value(2)
    at.button(key="moe_suite_run").click().run()
    assert not at.exception and not at.error
    frames = [d.value for d in at.dataframe]
    accuracy = next(f for f in frames if "accuracy" in f.columns)
    assert list(accuracy["target"]) == [DEFAULT_TARGET] and list(accuracy["problems"]) == [2]
    per_problem = next(f for f in frames if "problem" in f.columns)
    assert list(per_problem["problem"]) == ["logic-01", "logic-02"]
    assert any("Saved in the database" in c.value for c in at.caption)


def test_unknown_moe_family_says_routing_is_not_available():
    """A local MoE of a family the app cannot route: one sentence naming it, no empty chart."""
    import json
    import shutil

    import streamlit as st

    from services.models import local as local_models

    folder = local_models.models_root() / "transformers" / "switch-moe"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "switch_transformers", "num_experts": 8}))
    st.cache_data.clear()
    try:
        at = moe_page()
        at.selectbox(key="moe_target").set_value("transformers:switch-moe").run()
        assert not at.exception
        assert any("Routing is not available for switch" in i.value for i in at.info)
        assert "moe_route_run" not in [b.key for b in at.button]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        st.cache_data.clear()
