"""AppTest: the response format on Chat and Compare: schema checked before sending, answers badged valid or not."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from services.conversations.rows import NewMessage, TurnSettings
from services.conversations.store import open_store
from services.types import GenerationParams, Metrics, ResponseFormat
from tests.conftest import ROOT
from tests.readable import readable
from tests.unit.test_safe_markdown import assert_inert

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
          "required": ["city", "country"]}
QUESTION = "Where is the Eiffel Tower?"
ONNX = "onnx:smollm2-135m-instruct"


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "formats.db"
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(path))
    return path


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def badges(element) -> list[str]:
    """The readable text of every validity badge drawn inside element."""
    return [readable(md.value) for md in element.markdown if "-badge[" in md.value]


def choose_schema(at: AppTest, key: str, text: str) -> AppTest:
    """Pick JSON schema (the box appears on the next run), then type the schema into it."""
    at.radio(key=f"{key}_response_format").set_value("json_schema").run()
    assert not at.exception
    at.text_area(key=f"{key}_schema").set_value(text)
    return at.run()


def test_chat_answer_under_a_schema_is_json_with_the_valid_badge(db, embedded_paths):
    at = app().run()
    assert at.radio(key="chat_response_format").value == "text"
    at.slider(key="chat_temperature").set_value(0.0)
    at.number_input(key="chat_max_tokens").set_value(64)
    choose_schema(at, "chat", json.dumps(SCHEMA, indent=2))
    assert not at.sidebar.error
    at.chat_input(key="chat_input").set_value(QUESTION).run()
    assert not at.exception, at.exception
    assert len(at.chat_message) == 2
    answer = at.chat_message[1]
    data = json.loads(readable(answer.markdown[0].value))
    assert set(data) >= {"city", "country"} and all(isinstance(data[k], str) for k in ("city", "country"))
    assert badges(answer) == [":green-badge[✅ valid JSON against the schema]"]
    assert badges(at.chat_message[0]) == []  # the question has none
    stored = open_store().get_message(open_store().messages(at.session_state["chat_conversation"])[-1].id)
    assert stored.params.response_format == ResponseFormat("json_schema", SCHEMA)
    assert stored.metrics.schema_valid is True


def _seed(store, metrics: dict, fmt: dict | None) -> str:
    params = GenerationParams(temperature=0.0, max_tokens=40, response_format=fmt)
    c = store.create_conversation(settings=TurnSettings(ONNX, params))
    store.add_message(c, NewMessage("user", QUESTION))
    store.add_message(c, NewMessage("assistant", '{"city": "Paris"}', target=ONNX, params=params, finish_reason="stop",
                                    metrics=Metrics(ttft_s=0.1, decode_tokens_per_s=40.0, total_s=0.3, **metrics)))
    if fmt is None:
        # as stored before response formats existed: the parameters have no response_format at all
        with store._tx() as conn:
            conn.execute("UPDATE conversations SET params = ? WHERE id = ?",
                         ('{"temperature": 0.0, "max_tokens": 40}', c))
    return c


def test_stored_invalid_answer_shows_its_first_error_inert_and_free_text_shows_none(db, embedded_paths):
    store = open_store()
    error = "'country' is a required property ![x](https://attacker.test/t.png) ] <b>"
    bad = _seed(store, {"schema_valid": False, "schema_error": error}, {"kind": "json_schema", "schema": SCHEMA})
    free = _seed(store, {}, None)
    at = app()
    at.session_state["chat_conversation"] = bad
    at.run()
    assert not at.exception
    shown = badges(at.chat_message[1])
    assert len(shown) == 1 and shown[0].startswith(":red-badge[❌ not valid: 'country' is a required property")
    raw = next(md.value for md in at.chat_message[1].markdown if "-badge[" in md.value)
    # inside the badge every bracket is escaped: the error cannot close it or open a link or image
    body = raw[len(":red-badge["):-1]
    assert "]" not in body.replace("\\]", "")
    assert_inert(body)
    at.session_state["chat_conversation"] = free
    at.run()
    assert not at.exception and len(at.chat_message) == 2
    assert badges(at.chat_message[1]) == []


def test_a_resumed_conversation_gets_its_response_format_back(db, embedded_paths):
    store = open_store()
    c = _seed(store, {"schema_valid": True}, {"kind": "json_schema", "schema": SCHEMA})
    plain_conv = _seed(store, {}, None)
    at = app().run()
    assert at.radio(key="chat_response_format").value == "text"
    at.button(key=f"chat_open_{c}").click().run()
    assert not at.exception
    assert at.radio(key="chat_response_format").value == "json_schema"
    assert json.loads(at.text_area(key="chat_schema").value) == SCHEMA
    assert badges(at.chat_message[1]) == [":green-badge[✅ valid JSON against the schema]"]
    # a conversation stored without a format answered in free text: the panel goes back to Text
    at.button(key=f"chat_open_{plain_conv}").click().run()
    assert at.radio(key="chat_response_format").value == "text"


@pytest.mark.parametrize("text, says", [
    ('{"type": "object", "properties": {', "is not valid JSON"),
    ('{"type": 5}', "is not a valid JSON Schema"),
    ('["city", "country"]', "must be a JSON object"),
])
def test_a_bad_schema_says_one_sentence_sends_nothing_and_keeps_the_text(db, embedded_paths, text, says):
    at = choose_schema(app().run(), "chat", text)
    assert not at.exception
    errors = [readable(e.value) for e in at.sidebar.error]
    assert len(errors) == 1 and says in errors[0] and errors[0].endswith(".")
    # nothing can be sent until the schema is fixed, and nothing was stored
    assert at.chat_input(key="chat_input").proto.disabled
    assert at.chat_input(key="chat_input").proto.placeholder == "Fix the parameters in the sidebar first"
    assert len(at.chat_message) == 0
    assert open_store().list_conversations(10) == []
    assert at.text_area(key="chat_schema").value == text  # the pasted schema stays to be fixed
    at.text_area(key="chat_schema").set_value(json.dumps(SCHEMA)).run()
    assert not at.sidebar.error and not at.chat_input(key="chat_input").proto.disabled


def test_a_backend_that_cannot_constrain_greys_the_choice_and_sends_text():
    def page():
        import streamlit as st

        from ui.params_panel import params_panel

        st.session_state.setdefault("x_response_format", "json_schema")
        st.session_state.setdefault("x_schema", '{"type": 5}')  # not checked: nothing of it is sent
        params, _ = params_panel("x", {"response_format"}, formats=True)
        st.session_state["got"] = None if params is None else params.response_format.kind

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception
    choice = at.radio(key="x_response_format")
    assert choice.disabled and "ignored by this backend" in readable(choice.help)
    assert at.text_area(key="x_schema").disabled
    assert at.session_state["got"] == "text" and not at.sidebar.error


def test_compare_under_a_schema_shows_a_badge_per_column(db, embedded_paths):
    at = app()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    targets = at.multiselect(key="cmp_targets").value
    assert len(targets) == 2 and all(t.endswith(":smollm2-135m-instruct") for t in targets)
    at.slider(key="cmp_temperature").set_value(0.0)
    at.number_input(key="cmp_max_tokens").set_value(64)
    choose_schema(at, "cmp", json.dumps(SCHEMA))
    at.text_area(key="cmp_prompt").set_value(QUESTION)
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    results = at.session_state["cmp_last"].run["results"]
    assert [r["metrics"].get("schema_valid") for r in results] == [True, True], results
    # each result column starts with its target's name; the metrics card's own columns hold no badge
    columns = [c for c in at.columns if c.markdown and c.markdown[0].value.startswith("**")]
    assert [readable(c.markdown[0].value) for c in columns] == [f"**{t}**" for t in targets]
    for col in columns:
        assert badges(col) == [":green-badge[✅ valid JSON against the schema]"]
