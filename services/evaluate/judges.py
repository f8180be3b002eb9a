"""LLM judges: the built-in judge prompts, the judge's messages, and matching a reply to one choice."""

from __future__ import annotations

from services.evaluate.evaluator_spec import Choice, EvaluatorSpec, words
from services.evaluate.templating import render
from services.types import GenerationParams, Message

# a judge answers with a choice: greedy, and short
JUDGE_PARAMS = GenerationParams(temperature=0.0, top_p=1.0, max_tokens=64)
# judge replies longer than this many words are only read this far
MAX_REPLY_WORDS = 2000
# the built-in judges score 1 to 5 as 0, 0.25, 0.5, 0.75, 1; passed means a score above 0 (so 2 or
# better), the rule gh models eval applies to every judge
SCALE = tuple(Choice(str(n), (n - 1) / 4) for n in range(1, 6))

_ASK = "Reply with a single digit from 1 to 5 and nothing else, where 1 is very poor and 5 is excellent."
_SYSTEM = "You are a strict, fair grader of answers written by an AI assistant. You reply with one digit."
# our own wording over the reference's inputs: `input` and `expected` from the test row, `completion`
# the model's answer (a row without them leaves the placeholder as written, as the reference does)
BUILTIN_PROMPTS = {
    "similarity": ("How close in meaning is the ANSWER to the CORRECT ANSWER for this QUESTION? Wording may "
                   "differ; facts and conclusions must agree.\n\nQUESTION:\n{{input}}\n\nCORRECT ANSWER:\n"
                   "{{expected}}\n\nANSWER:\n{{completion}}\n\n" + _ASK),
    "coherence": ("How coherent is the ANSWER: do its sentences follow logically and read as one whole?\n\n"
                  "QUESTION:\n{{input}}\n\nANSWER:\n{{completion}}\n\n" + _ASK),
    "fluency": ("How fluent is the ANSWER: grammar, word choice and readability, regardless of content?\n\n"
                "ANSWER:\n{{completion}}\n\n" + _ASK),
    "relevance": ("How relevant is the ANSWER to the QUESTION: does it address what was asked, without "
                  "padding?\n\nQUESTION:\n{{input}}\n\nANSWER:\n{{completion}}\n\n" + _ASK),
    "groundedness": ("Is the ANSWER to the QUESTION supported by the CONTEXT? Claims not found in the context "
                     "lower the grade.\n\nCONTEXT:\n{{expected}}\n\nQUESTION:\n{{input}}\n\nANSWER:\n"
                     "{{completion}}\n\n" + _ASK),
}
# the test-row keys each built-in judge reads (beside the answer), as the reference's judges do
BUILTIN_INPUTS = {"similarity": ("input", "expected"), "coherence": ("input",), "fluency": (),
                  "relevance": ("input",), "groundedness": ("expected", "input")}


def judge_parts(spec: EvaluatorSpec) -> tuple[str, str, tuple[Choice, ...], float | None]:
    """(prompt template, system prompt, choices, pass threshold) of an llm or built-in judge."""
    if spec.kind == "uses":
        name = spec.config.removeprefix("github/")
        return BUILTIN_PROMPTS[name], _SYSTEM, SCALE, None
    cfg = spec.config
    return cfg["prompt"], cfg.get("systemPrompt", ""), spec.choices, cfg.get("passThreshold")


def judge_messages(spec: EvaluatorSpec, row: dict, completion: str) -> tuple[Message, ...]:
    """The judge's conversation: its system prompt, then its prompt templated with the row and answer."""
    template, system, _, _ = judge_parts(spec)
    text = render(template, {**row, "completion": completion})
    return ((Message("system", system),) if system.strip() else ()) + (Message("user", text),)


def match_choice(reply: str, choices: tuple[Choice, ...]) -> tuple[Choice | None, str]:
    """The one choice a reply names, by whole words: "not good" is never "good".

    In order: the reply is exactly a choice; the reply begins with a choice (the longest one, so
    "not good" wins over "not"); exactly one choice is named anywhere, not counting a choice seen
    only inside a longer one ("good" inside "not good"). Anything else is unmatched, with the reason.
    """
    toks = words(reply)[:MAX_REPLY_WORDS]
    if not toks:
        return None, "the judge's reply was empty"
    keyed = [(words(c.choice), c) for c in choices]
    for key, c in keyed:
        if toks == key:
            return c, "the whole reply"
    starts = [(key, c) for key, c in keyed if toks[: len(key)] == key]
    if starts:
        return max(starts, key=lambda kc: len(kc[0]))[1], "the reply's first words"
    spans = [(i, i + len(key), c) for key, c in keyed
             for i in range(len(toks) - len(key) + 1) if toks[i: i + len(key)] == key]
    kept = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
    named = list(dict.fromkeys(c.choice for _, _, c in kept))
    if len(named) == 1:
        return next(c for _, _, c in kept), "the only choice named"
    if not named:
        return None, "no choice is named in the reply"
    return None, "the reply names several choices (" + ", ".join(repr(n) for n in named[:5]) + ")"
