"""Length caps on what a person sends: one sentence, nothing stored, the text kept on the page."""

import pytest

from services.conversations import branches as convs
from services.chat import MAX_PROMPT_CHARS, start_chat
from services.compare.run import CompareSpec
from services.errors import BadRequest
from services.conversations.rows import TurnSettings
from services.conversations.store import Store
from services.types import GenerationParams, Message

LONG = "x" * (MAX_PROMPT_CHARS + 1)
CAP = f"the most one message may hold is {MAX_PROMPT_CHARS:,}"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "p.db")
    yield s
    s.close()


def test_a_question_over_the_cap_is_refused_before_it_is_stored(store):
    with pytest.raises(BadRequest, match=CAP):
        convs.ask(store, None, LONG, TurnSettings("onnx:smollm2-135m-instruct", GenerationParams()))
    with pytest.raises(BadRequest, match="The system prompt is"):
        convs.ask(store, None, "hi", TurnSettings("onnx:smollm2-135m-instruct", system=LONG))
    assert store.list_conversations() == []
    # exactly at the cap is fine
    conv, _ = convs.ask(store, None, "y" * MAX_PROMPT_CHARS)
    assert len(store.messages(conv)) == 1


def test_an_edit_over_the_cap_is_refused_and_the_branch_is_unchanged(store):
    conv, q = convs.ask(store, None, "short")
    with pytest.raises(BadRequest, match="The edited message is"):
        convs.edit_question(store, conv, q, LONG)
    assert [m.content for m in store.messages(conv)] == ["short"]


def test_the_service_refuses_before_any_backend_work():
    # an unreachable target: the length is checked before the backend is asked anything
    with pytest.raises(BadRequest, match=CAP):
        start_chat("openai:nothing-here", [Message("user", LONG)])


def test_compare_prompt_over_the_cap():
    with pytest.raises(BadRequest, match="The prompt is"):
        CompareSpec.build(LONG, ["openai:a", "openai:b"])


def test_the_pages_stop_typing_at_the_cap():
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert at.chat_input(key="chat_input").proto.max_chars == MAX_PROMPT_CHARS
    assert at.text_area(key="chat_system").proto.max_chars == MAX_PROMPT_CHARS
    at.switch_page("app_pages/compare.py").run()
    assert at.text_area(key="cmp_prompt").proto.max_chars == MAX_PROMPT_CHARS
