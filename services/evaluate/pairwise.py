"""A pairwise judge over Compare's columns: each pair asked in both orders, a winner only when both agree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

from services.chat import start_chat
from services.errors import BadRequest, PlaygroundError
from services.evaluate.evaluator_spec import Choice
from services.evaluate.judges import JUDGE_PARAMS, match_choice
from services.types import Message

CHOICES = (Choice("A", 1.0), Choice("B", 0.0), Choice("tie", 0.5))
SYSTEM = "You compare two answers to the same question and reply with one word: A, B or tie."
PROMPT = ("QUESTION:\n{question}\n\nANSWER A:\n{a}\n\nANSWER B:\n{b}\n\n"
          "Which answer is more correct and more helpful? Reply with A, B or tie, nothing else.")
# answers longer than this are cut before they reach the judge (its context is small)
MAX_ANSWER_CHARS = 4000


def ask_target(target: str, messages: tuple[Message, ...]) -> str:
    """One greedy, short judge reply from a target."""
    return start_chat(target, messages, JUDGE_PARAMS).text()


def _ask(ask, judge: str, question: str, a: str, b: str) -> tuple[str | None, str]:
    text = PROMPT.format(question=question, a=a[:MAX_ANSWER_CHARS], b=b[:MAX_ANSWER_CHARS])
    reply = ask(judge, (Message("system", SYSTEM), Message("user", text)))
    choice, _ = match_choice(reply, CHOICES)
    return (choice.choice if choice else None), reply


def judge_pair(question: str, x: str, y: str, judge: str,
               ask: Callable[[str, tuple[Message, ...]], str] = ask_target) -> dict:
    """Ask with x as A, then with y as A; the winner ("x", "y", "tie") only when both orders agree."""
    first, reply1 = _ask(ask, judge, question, x, y)
    second, reply2 = _ask(ask, judge, question, y, x)
    as_x = {"A": "x", "B": "y", "tie": "tie", None: None}
    swapped = {"A": "y", "B": "x", "tie": "tie", None: None}
    one, two = as_x[first], swapped[second]
    winner = one if one is not None and one == two else None
    if winner:
        why = "both orders agree"
    elif one is None or two is None:
        why = "a reply named no single choice"
    else:
        why = "the orders disagree (the judge favours a position)"
    return {"winner": winner, "first": one, "second": two, "replies": [reply1, reply2], "why": why}


def judge_columns(question: str, columns: Sequence[dict], judge: str,
                  ask: Callable[[str, tuple[Message, ...]], str] = ask_target) -> list[dict]:
    """Every pair of answered columns ({target, text}), judged in both orders."""
    answered = [c for c in columns if not c.get("error") and (c.get("text") or "").strip()]
    if len(answered) < 2:
        raise BadRequest("The judge needs at least two columns with an answer.")
    out = []
    for a, b in combinations(answered, 2):
        try:
            v = judge_pair(question, a["text"], b["text"], judge, ask)
        except PlaygroundError as exc:
            v = {"winner": None, "first": None, "second": None, "replies": [], "why": f"the judge failed: {exc.user_message()}"}
        name = {"x": a["target"], "y": b["target"], "tie": "tie", None: "no verdict"}
        out.append({"a": a["target"], "b": b["target"], "winner": name[v["winner"]],
                    "first order": name[v["first"]], "second order": name[v["second"]], "why": v["why"],
                    "replies": v["replies"]})
    return out
