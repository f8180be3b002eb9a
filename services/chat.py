"""Chat as a service: validate, fit the context, pick the backend, return the answer object."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.backends import backend_names, get_backend
from services.errors import BadRequest
from services.models.embedded import EMBEDDED_MODEL
from services.models.measured import DEFAULT_RUNTIME
from services.streaming import Answer, AnswerOutcome
from services.targets import list_targets
from services.types import ChatRequest, GenerationParams, Message, Target

# the embedded model on the runtime the measurements put first (services/models/measured.py says why)
DEFAULT_TARGET = f"{DEFAULT_RUNTIME}:{EMBEDDED_MODEL}"
# A new conversation starts with this system prompt (shown, editable): with none, SmolLM2's own template
# adds "You are a helpful AI assistant named SmolLM...", after which the embedded model often answers
# "What is the capital of France?" in French; with this one it answers "The capital of France is Paris..."
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
# the longest message a person may send (about 57k tokens: more than any local model's context);
# the chat input stops typing at this length and the services refuse longer text before storing it
MAX_PROMPT_CHARS = 200_000
# rough characters per token for backends that cannot count (cloud endpoints)
CHARS_PER_TOKEN = 3.5


@dataclass(frozen=True)
class Fitted:
    """Messages trimmed to the context, and how many old turns were dropped."""

    messages: tuple[Message, ...]
    dropped: int


def check_length(text: str, what: str = "This message") -> None:
    """Refuse text over MAX_PROMPT_CHARS with one sentence, before anything is stored or sent."""
    if len(text) > MAX_PROMPT_CHARS:
        raise BadRequest(f"{what} is {len(text):,} characters; the most one message may hold is "
                         f"{MAX_PROMPT_CHARS:,}. Shorten it or split it into several messages.")


def resolve_target(target: str | Target) -> Target:
    """Parse a target string and check its backend exists, listing the valid ones if not."""
    t = target if isinstance(target, Target) else Target.parse(target)
    if t.backend not in backend_names():
        valid = ", ".join(info.target for info in list_targets())
        raise BadRequest(f"Unknown target {t}. Valid targets: {valid}.")
    return t


def _count(backend, model: str, messages: tuple[Message, ...]) -> int:
    n = backend.count_tokens(model, messages)
    if n is None:
        chars = sum(len(m.content) + 8 for m in messages)
        n = int(chars / CHARS_PER_TOKEN) + 1
    return n


def fit_context(backend, model: str, messages: tuple[Message, ...], max_tokens: int,
                context_length: int) -> Fitted:
    """Drop the oldest turns (never the system prompt or the last message) until it fits."""
    budget = context_length - max_tokens
    system = tuple(m for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    dropped = 0
    while True:
        candidate = system + tuple(rest)
        if _count(backend, model, candidate) <= budget:
            return Fitted(candidate, dropped)
        if len(rest) <= 1:
            n = _count(backend, model, candidate)
            raise BadRequest(
                f"This message is about {n} tokens, too long for this model: its context is "
                f"{context_length} tokens and {max_tokens} are kept for the answer. "
                "Shorten the message, lower max tokens, or pick a model with a longer context."
            )
        # drop a whole exchange (user + assistant) at a time so roles stay in order
        rest.pop(0)
        dropped += 1
        while rest and rest[0].role == "assistant" and len(rest) > 1:
            rest.pop(0)
            dropped += 1


def start_chat(target: str | Target, messages: list[Message] | tuple[Message, ...],
               params: GenerationParams | None = None, *, routing: bool = False) -> Answer:
    """Check everything that can be checked up front, then return the answer, ready to read."""
    params = params or GenerationParams()
    t = resolve_target(target)
    messages = tuple(messages)
    last = messages[-1] if messages else None
    if last is None or last.role != "user" or not (last.content.strip() or last.images):
        raise BadRequest("Type a message first: the prompt is empty.")
    check_length(last.content)
    backend = get_backend(t.backend)
    caps = backend.capabilities(t.model)
    n_images = sum(len(m.images) for m in messages)
    if n_images and not caps.images:
        raise BadRequest(f"{t} reads text only; remove the {n_images} image(s) or pick a vision target.")
    if n_images > caps.max_images and caps.images:
        raise BadRequest(f"{t} takes at most {caps.max_images} images; this request has {n_images}.")
    if params.response_format.is_json and "response_format" in caps.ignored_params:
        raise BadRequest(f"{t} cannot constrain answers to JSON; choose the text response format or another target.")
    load_s = 0.0
    if caps.local:
        # local runtimes count tokens with their own tokenizer, which needs the model loaded
        started = time.perf_counter()
        backend.prepare(t.model)
        load_s = time.perf_counter() - started
        caps = backend.capabilities(t.model)
    fitted = fit_context(backend, t.model, messages, params.max_tokens, caps.context_length)
    notices = ()
    if fitted.dropped:
        notices = (f"The {fitted.dropped} oldest message(s) were left out to fit the model's "
                   f"{caps.context_length}-token context.",)
    request = ChatRequest(t, fitted.messages, params, routing=routing)
    return Answer(backend, request, notices=notices, load_s=load_s)


def chat_once(target: str | Target, prompt: str, *, system: str | None = None,
              params: GenerationParams | None = None) -> AnswerOutcome:
    """One prompt, read to the end: its outcome, or the failure raised (tests and benchmarks)."""
    messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
    answer = start_chat(target, messages, params)
    answer.text()
    return answer.outcome
