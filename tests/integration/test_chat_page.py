"""AppTest: the chat page loads, answers from the embedded model, and explains unavailable targets."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.fixtures.questions import CAPITAL
from tests.readable import readable

pytestmark = pytest.mark.integration


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def test_chat_page_loads(embedded_paths):
    at = app().run()
    assert not at.exception
    assert any("Chat" in t.value for t in at.title)


def test_prompt_gets_streamed_answer(embedded_paths):
    at = app().run()
    at.sidebar.expander[0]  # the parameters panel exists
    at.slider(key="chat_temperature").set_value(0.0)
    at.number_input(key="chat_max_tokens").set_value(16)
    at.chat_input(key="chat_input").set_value(CAPITAL).run()  # one greedy answer on every CPU
    assert not at.exception
    assert len(at.chat_message) == 2
    answer = at.chat_message[1]
    assert answer.name == "assistant"
    assert "Paris" in answer.markdown[0].value
    assert any("tok/s" in readable(c.value) for c in answer.caption)


def test_empty_prompt_is_refused(embedded_paths):
    at = app().run()
    at.chat_input(key="chat_input").set_value("   ").run()
    assert not at.exception
    assert len(at.chat_message) == 0
    assert any("empty" in w.value for w in at.warning)
