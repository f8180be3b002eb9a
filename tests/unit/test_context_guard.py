"""The context guard drops the oldest turns, keeps the system prompt, refuses one huge message."""

import pytest

from services.chat import fit_context
from services.errors import BadRequest
from services.types import Message


class WordCounter:
    """Counts one token per word: a tokenizer stand-in for the guard's arithmetic only."""

    def count_tokens(self, model, messages):
        return sum(len(m.content.split()) + 1 for m in messages)


def convo(turns):
    msgs = [Message("system", "be brief")]
    for i in range(turns):
        msgs += [Message("user", f"question {i} " + "w " * 10), Message("assistant", f"answer {i} " + "w " * 10)]
    msgs.append(Message("user", "last question"))
    return tuple(msgs)


def test_fits_untouched():
    msgs = convo(2)
    fitted = fit_context(WordCounter(), "m", msgs, max_tokens=10, context_length=1000)
    assert fitted.messages == msgs and fitted.dropped == 0


def test_drops_oldest_keeps_system_and_last():
    msgs = convo(5)
    fitted = fit_context(WordCounter(), "m", msgs, max_tokens=20, context_length=60)
    assert fitted.dropped > 0
    assert fitted.messages[0].role == "system"
    assert fitted.messages[-1].content == "last question"
    assert fitted.messages[1].role == "user"  # never starts with an orphan answer
    assert "question 0" not in " ".join(m.content for m in fitted.messages)


def test_single_message_too_long():
    msgs = (Message("user", "w " * 500),)
    with pytest.raises(BadRequest, match="too long"):
        fit_context(WordCounter(), "m", msgs, max_tokens=20, context_length=100)
