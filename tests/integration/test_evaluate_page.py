"""AppTest: the Evaluate page proposes a file's model (or says why not), runs the bundled quiz on the embedded
target, keeps the run, re-runs it from the stored runs and diffs the two; the languages example grouped by language."""

import pytest
from streamlit.testing.v1 import AppTest

from services.chat import DEFAULT_TARGET
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

EMBEDDED = DEFAULT_TARGET  # the embedded model on the default runtime


def evaluate_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at.switch_page("app_pages/evaluate.py").run()


def test_quiz_on_the_embedded_target_is_kept_rerun_and_diffed(embedded_paths, tmp_path, monkeypatch):
    # a database of its own: the stored-runs list then holds only this test's runs
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "evaluate.db"))
    at = evaluate_page()
    assert not at.exception
    at.selectbox(key="ev_example").set_value("quiz.prompt.yml").run()
    # the file's model (a GitHub Models id) cannot answer without a key: the embedded model is chosen, and said
    assert at.multiselect(key="ev_targets").value == [EMBEDDED]
    assert any("The file's model microsoft/phi-3.5-mini-instruct (github:microsoft/phi-3.5-mini-instruct) cannot "
               "answer here" in w.value.replace("\\", "") for w in at.warning)
    assert any("5 case" in e.label for e in at.expander)
    at.button(key="ev_run").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.subheader] == ["Results"]
    assert any("saved as run" in c.value for c in at.caption)
    frames = [d.value for d in at.dataframe]
    summary = next(f for f in frames if "pass rate" in f.columns)
    assert list(summary["target"]) == [EMBEDDED]
    grid = next(f for f in frames if "case" in f.columns and EMBEDDED in f.columns)
    assert list(grid["case"]) == [1, 2, 3, 4, 5]
    assert all(cell[0] in "✓✗?" for cell in grid[EMBEDDED])  # every case answered: none is an error
    assert at.selectbox(key="ev_cell_target").value == EMBEDDED
    # the stored run again: same file and target, a second stored run, greedy so nothing flips
    assert len(at.selectbox(key="ev_stored").options) == 1
    at.button(key="ev_rerun").click().run()
    assert not at.exception and not at.error
    assert len(at.selectbox(key="ev_stored").options) == 2
    at.selectbox(key="ev_diff_with").set_value(at.selectbox(key="ev_diff_with").options[0]).run()
    assert not at.exception
    assert any("No case changed its verdict." in c.value for c in at.caption)
    at.button(key="ev_show_stored").click().run()
    assert not at.exception and any("saved as run" in c.value for c in at.caption)


def test_languages_example_groups_by_language(embedded_paths, tmp_path, monkeypatch):
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "evaluate.db"))
    at = evaluate_page()
    at.selectbox(key="ev_example").set_value("languages.prompt.yml").run()
    assert at.multiselect(key="ev_targets").value == [EMBEDDED]
    at.button(key="ev_run").click().run()
    assert not at.exception and not at.error
    # the file has a language column: it is offered first
    assert at.selectbox(key="ev_group_by").options[:2] == ["(no grouping)", "language"]
    at.selectbox(key="ev_group_by").set_value("language").run()
    assert not at.exception
    (table,) = [t.value for t in at.table]
    # every cell is escaped for markdown (st.table renders it): read it as a person sees it
    table = table.map(lambda v: str(v).replace("\\", "")).rename(columns=lambda c: c.replace("\\", ""))
    assert list(table.index) == ["English", "French", "Spanish", "German", "Portuguese", "Russian", "Chinese"]
    assert set(table["target"]) == {EMBEDDED} and all(v.endswith("/ 3") for v in table["passed / ran"])
    assert all("–" in v and v.endswith("%") for v in table["95% interval"])
