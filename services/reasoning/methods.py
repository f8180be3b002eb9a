"""Reasoning tools for any target: presets, final-answer extraction, self-consistency voting."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from services.chat import start_chat
from services.errors import BadRequest
from services.types import GenerationParams, Message

ANSWER_RULE = ('When you are done, write the final answer alone on the last line as "Answer: <answer>", '
               "with no units and no extra words.")
STEP_BY_STEP = "Think step by step, writing out each step of your reasoning before the answer."
DIRECT = "Reply with the answer only, no working."


@dataclass(frozen=True)
class Preset:
    """A kind of reasoning question: its instructions and a sample question."""

    key: str
    label: str
    system: str
    example: str


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("math", "Math word problem",
               "You solve math word problems carefully. Check the arithmetic before answering.",
               "A box holds 12 pencils. A class of 28 students needs 3 pencils each. "
               "How many boxes must the teacher open?"),
        Preset("logic", "Logic puzzle",
               "You solve logic puzzles. Use only the facts given and check every condition.",
               "Zoe is older than Raj. Raj is older than Tess. Is Tess older than Zoe? Answer yes or no."),
        Preset("code", "Code tracing",
               "You trace code by hand, line by line, keeping track of every variable.",
               "What does this Python program print?\n\n```python\ntotal = 0\nfor i in range(1, 5):\n"
               "    total += i * i\nprint(total)\n```"),
    )
}


def build_messages(question: str, preset: str = "math", *, step_by_step: bool = True,
                   system: str = "") -> tuple[Message, ...]:
    """System + user turns for a question under a preset, asking for an "Answer:" line."""
    if not isinstance(question, str) or not question.strip():
        raise BadRequest("Type a question first: the question is empty.")
    if preset not in PRESETS:
        raise BadRequest(f"Unknown preset {preset!r}; presets: {', '.join(PRESETS)}.")
    how = STEP_BY_STEP if step_by_step else DIRECT
    sys_text = " ".join(s for s in (system.strip(), PRESETS[preset].system, how, ANSWER_RULE) if s)
    return (Message("system", sys_text), Message("user", question.strip()))


# --- final-answer extraction -------------------------------------------------------------------

# Model text is untrusted: every pattern here is linear (no quantified part next to or inside another
# that can match the same characters; tests/unit/test_regex_linear.py checks), and the rest of a line
# is taken with str methods rather than a lazy group before \s*$.
# "Answer: 42", "**Final answer:** 42", "answer = 42", matched after a line's leading markup; the last wins
_LEAD = re.compile(r"[\s>*_#-]*")
_EXPLICIT = re.compile(r"(?i)(?:the\s+)?(?:final\s+)?answer[\s*_]*(?:is[\s*_]*)?[:=：](.*)")
_BOXED = re.compile(r"\\boxed\{([^{}]+)\}")
# "the answer is Cara, since ...": the phrase, then the rest of its line is read in _phrases()
_ANSWER_IS = re.compile(r"(?i)\b(?:the\s+)?(?:final\s+)?answer\s+is")
_SPACE = re.compile(r"\s*")
_CLAUSE_END = re.compile(r"[,;.!?](?:\s|$)|\s(?:because|since|as|so)\s", re.I)
_NUMBER = re.compile(r"(?<![\w.])[-−]?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?%?")
_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}):([0-5]\d)(?![\d:])")
_WORDS = re.compile(r"[a-z0-9:./'-]+")
_FILLER = {"the", "a", "an", "is", "it", "answer", "final"}


@dataclass(frozen=True)
class Extracted:
    """The final answer found in a reply and how it was found (explicit, boxed, phrase, number, short)."""

    answer: str | None
    method: str


def _clean(text: str) -> str:
    text = text.strip().strip("*_`\"'“”‘’ ").strip()
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text)
    text = text.replace("$", "").replace("**", "")
    return text.rstrip(".!;, ").strip()


def _explicit(text: str) -> list[str]:
    """The text after every "Answer:" at the start of a line (after quote, list or bold markup)."""
    found = []
    for line in text.split("\n"):
        m = _EXPLICIT.match(line, _LEAD.match(line).end())
        if m and m.group(1):
            found.append(m.group(1).strip())
    return found


def _phrases(text: str) -> list[str]:
    """The rest of the line after each "the answer is" (":" and spaces skipped), left to right."""
    found, taken = [], 0
    for m in _ANSWER_IS.finditer(text):
        if m.start() < taken:
            continue  # inside the previous phrase's line, which is already taken
        i = _SPACE.match(text, m.end()).end()
        if text.startswith(":", i):
            i = _SPACE.match(text, i + 1).end()
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        if end > i:
            found.append(text[i:end])
            taken = end
    return found


def extract_answer(text: str) -> Extracted:
    """Find the final answer: an explicit "Answer:" line, then \\boxed{}, "the answer is", the last
    number, or the whole reply when it is only a few words."""
    text = text or ""
    found = _explicit(text)
    if found and _clean(found[-1]):
        return Extracted(_clean(found[-1]), "explicit")
    boxed = _BOXED.findall(text)
    if boxed:
        return Extracted(_clean(boxed[-1]), "boxed")
    phrase = _phrases(text)
    if phrase and _clean(phrase[-1]):
        # "the answer is Cara, since ..." -> "Cara": a phrase in running text ends at its clause
        return Extracted(_clean(_CLAUSE_END.split(phrase[-1])[0]), "phrase")
    words = _clean(text).split()
    if 0 < len(words) <= 4:
        return Extracted(_clean(text), "short")
    numbers = _NUMBER.findall(text)
    if numbers:
        return Extracted(_clean(numbers[-1]), "number")
    return Extracted(None, "none")


def parse_number(text: str | None) -> Fraction | None:
    """The first number in a short answer ("$1,200", "3.6 hours", "18/5", "-4"), exactly."""
    if not text:
        return None
    m = _NUMBER.search(text.replace("−", "-"))
    if not m:
        return None
    raw = m.group(0).replace("$", "").replace(",", "").rstrip("%").replace("−", "-")
    try:
        return Fraction(raw)
    except (ValueError, ZeroDivisionError):
        return None


def canonical(answer: str | None) -> str | None:
    """A key under which equal answers vote together: a number in lowest form, else clean words."""
    if answer is None:
        return None
    words = [w for w in _WORDS.findall(answer.lower()) if w.strip(":.") not in _FILLER]
    # a reply that is only a number ("36", "36 stickers", "$36") votes as that number
    num = parse_number(answer)
    clock = _CLOCK.search(answer)
    if clock and len(words) <= 3:
        return f"{int(clock.group(1))}:{clock.group(2)}"  # a time of day, "09:40" == "9:40", not a number
    if num is not None and (len(words) <= 3 or _NUMBER.fullmatch(answer.strip())):
        return str(num.numerator) if num.denominator == 1 else format(float(num), "g")
    text = " ".join(w.strip(".':") for w in words).strip()
    return text or None


def is_correct(predicted: str | None, expected: str, answer_type: str = "text",
               accept: tuple[str, ...] | list[str] = ()) -> bool:
    """Whether an extracted answer matches the expected one (numbers exactly, text by words)."""
    if predicted is None:
        return False
    if answer_type == "number":
        got, want = parse_number(predicted), parse_number(expected)
        if got is not None and want is not None and got == want:
            return True
    got = canonical(predicted) or ""
    for option in (expected, *accept):
        want = canonical(option) or ""
        if not want:
            continue
        if got == want:
            return True
        # "It will be Friday" matches "Friday" when the reply is short
        tokens = got.split()
        if answer_type == "text" and len(tokens) <= 4 and want in tokens:
            return True
    return False


# --- self-consistency --------------------------------------------------------------------------

@dataclass(frozen=True)
class Vote:
    """Majority vote over sample answers: winner, counts, agreement, and any tie."""

    winner: str | None
    counts: dict[str, int]
    agreement: float
    tied: tuple[str, ...] = ()
    abstained: int = 0


def majority_vote(answers: list[str | None]) -> Vote:
    """Most common canonical answer; a tie is reported and broken by first appearance."""
    keys = [canonical(a) for a in answers]
    voted = [k for k in keys if k]
    if not voted:
        return Vote(None, {}, 0.0, (), len(keys))
    counts = Counter(voted)
    top = max(counts.values())
    leaders = [k for k in dict.fromkeys(voted) if counts[k] == top]
    return Vote(leaders[0], dict(counts.most_common()), round(top / len(keys), 4),
                tuple(leaders) if len(leaders) > 1 else (), len(keys) - len(voted))


@dataclass
class Sample:
    """One sampled reply with its extracted answer and measurements."""

    text: str
    answer: str | None
    method: str
    seconds: float | None
    completion_tokens: int | None
    finish_reason: str | None
    error: str = ""


@dataclass
class Consistency:
    """k samples of one question and the vote over their answers."""

    target: str
    question: str
    samples: list[Sample] = field(default_factory=list)
    vote: Vote | None = None
    routing: list = field(default_factory=list)

    @property
    def answer(self) -> str | None:
        """The winning answer as the first sample that gave it wrote it."""
        if self.vote is None or self.vote.winner is None:
            return None
        return next((s.answer for s in self.samples if canonical(s.answer) == self.vote.winner), self.vote.winner)

    def to_dict(self) -> dict:
        """Plain dict for JSON output."""
        return {"target": self.target, "question": self.question, "answer": self.answer,
                "samples": [asdict(s) for s in self.samples], "vote": asdict(self.vote) if self.vote else None}


def sample_params(params: GenerationParams, k: int, temperature: float | None, index: int) -> GenerationParams:
    """Params for sample `index`: sampling on when k > 1, distinct seeds when a seed is set."""
    values = params.to_dict()
    if temperature is not None:
        values["temperature"] = temperature
    if k > 1 and values["temperature"] == 0:
        raise BadRequest("Self-consistency needs a temperature above 0, or every sample is the same.")
    if values.get("seed") is not None:
        values["seed"] = (values["seed"] + index) % 2**31
    return GenerationParams.from_dict(values)


def self_consistency(target: str, question: str, *, preset: str = "math", k: int = 1,
                     temperature: float | None = None, params: GenerationParams | None = None,
                     step_by_step: bool = True, system: str = "", routing: bool = False,
                     on_sample: Callable[[int, Sample], None] | None = None) -> Consistency:
    """Ask k times, extract each answer, and vote; routing (first sample) when asked for."""
    if not isinstance(k, int) or not 1 <= k <= 20:
        raise BadRequest(f"samples must be between 1 and 20, not {k!r}.")
    params = params or GenerationParams()
    messages = build_messages(question, preset, step_by_step=step_by_step, system=system)
    result = Consistency(str(target), question)
    for i in range(k):
        p = sample_params(params, k, temperature, i)
        out = start_chat(target, messages, p, routing=routing and i == 0).finish()
        if out.error is not None and i == 0 and not out.text:
            raise out.error  # the target itself is failing: say so instead of k empty samples
        found = extract_answer(out.text)
        sample = Sample(out.text, found.answer, found.method, out.metrics.total_s,
                        out.metrics.completion_tokens, out.finish_reason, out.error_message)
        if routing and i == 0:
            result.routing = list(out.routing)
        result.samples.append(sample)
        if on_sample:
            on_sample(i, sample)
    result.vote = majority_vote([s.answer for s in result.samples])
    return result
