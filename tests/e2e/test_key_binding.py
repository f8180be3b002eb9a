"""In the browser: an address typed on the Models page never receives a configured key, and another
session sees neither that address nor anything done with it."""

from __future__ import annotations

import pytest

from tests.e2e._app import assert_no_traceback, chat, go_to, main_text, open_app, pick_target, wait_answer, wait_idle
from tests.standins.openai_sse import OpenAIStandIn

pytestmark = pytest.mark.e2e


@pytest.fixture
def typed_server():
    """A second OpenAI-compatible stand-in, where a visitor would point the app: it records headers."""
    with OpenAIStandIn(models=("typed-standin",)) as srv:
        yield srv


def test_a_typed_address_never_receives_a_configured_key(browser, app, canaries, standin, typed_server):
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        a, b = ctx_a.new_page(), ctx_b.new_page()
        open_app(a, app)
        go_to(a, "Models")
        a.get_by_text("Keys and addresses for this session").click()
        a.get_by_label("OPENAI_BASE_URL", exact=True).fill(typed_server.url)
        a.get_by_role("button", name="Use for this session").click()
        wait_idle(a)
        # the page says why the configured OPENAI_API_KEY is not used here
        assert "not sent to an address typed for this session" in main_text(a)
        go_to(a, "Chat")
        pick_target(a, "openai:typed-standin")
        chat(a, "Where does this question go?")
        wait_answer(a)
        assert "Hello from the stand-in." in main_text(a)
        assert_no_traceback(a)

        # what arrived at the typed address: the question, and no key of any provider
        assert typed_server.chat_requests
        for r in typed_server.requests:
            assert "authorization" not in r.headers and "api-key" not in r.headers, r.headers
        wire = typed_server.wire_text()
        assert not [name for name, value in canaries.items() if value in wire]

        # another session: the configured address with its key, and no trace of A's address
        open_app(b, app)
        go_to(b, "Models")
        text_b = main_text(b)
        assert standin.url in text_b and str(typed_server.port) not in b.content()
        assert "Typed for this session" not in text_b
    finally:
        ctx_a.close()
        ctx_b.close()
