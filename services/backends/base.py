"""The one backend interface, and small helpers every backend shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, runtime_checkable

from services.providers import Health
from services.types import Capabilities, ChatRequest, Message, StreamEvent, TargetInfo


@dataclass(frozen=True)
class Resident:
    """A model loaded in this process, as its backend reports it."""

    backend: str
    key: str
    bytes: int
    last_used: float
    busy: bool
    # an image-text model (transformers vision path, ONNX phi3v)
    vision: bool = False


@runtime_checkable
class Backend(Protocol):
    """What every runtime or endpoint implements."""

    name: str

    def capabilities(self, model: str) -> Capabilities:
        """What the model accepts; cheap, no model load and no network."""

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """Yield Token, Usage, ... and finally Done; raise a PlaygroundError on failure."""

    def list_targets(self) -> list[TargetInfo]:
        """Every target this backend offers, with availability."""

    def prepare(self, model: str) -> None:
        """Load or connect ahead of the first token so load time is measured apart from TTFT."""

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Prompt tokens for these messages, or None when the backend cannot count."""

    def loaded(self) -> list[Resident]:
        """The models this process holds in memory for this backend, vision ones included ([] for a remote one)."""

    def unload(self, key: str) -> bool:
        """Drop a loaded model by its Resident key; False (nothing dropped) while it is answering."""

    def reset_cache(self) -> None:
        """Forget kept conversation state (KV caches), so the next answer reads its whole prompt."""

    def health(self) -> Health | None:
        """This session's last outcome with a remote provider; None for a local runtime."""


@runtime_checkable
class ExpertRouting(Protocol):
    """A backend that can describe a local mixture-of-experts model's routing."""

    def routing_info(self, model: str) -> dict:
        """MoE routing facts: family, scoring, shared experts, random weights, sizes."""


class HoldsNoModels:
    """Mixed into a backend that holds no model in this process: a remote provider, or OCR (whose
    answering model its own runtime holds and reports)."""

    def loaded(self) -> list[Resident]:
        """Nothing is loaded here."""
        return []

    def unload(self, key: str) -> bool:
        """Nothing to drop."""
        return True

    def reset_cache(self) -> None:
        """No conversation state is kept here."""

    def health(self) -> Health | None:
        """No reachability record (a remote provider overrides this with its own)."""
        return None


class StopMatcher:
    """Holds back text that could be the start of a stop string, and cuts at the first match."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = tuple(s for s in stops if s)
        self.buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add new text; return what is safe to emit now."""
        if not self.stops:
            return text
        self.buffer += text
        cut = min((i for i in (self.buffer.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self.buffer, self.stopped = self.buffer[:cut], "", True
            return out
        # keep the longest tail that is a prefix of some stop string
        hold = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self.buffer)), 0, -1):
                if self.buffer.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        out = self.buffer[: len(self.buffer) - hold]
        self.buffer = self.buffer[len(out):]
        return out

    def flush(self) -> str:
        """Release held text at the end of generation."""
        out, self.buffer = self.buffer, ""
        return out


def messages_as_dicts(messages: tuple[Message, ...]) -> list[dict]:
    """Role/content dicts for chat templates (images are handled by the vision paths)."""
    return [{"role": m.role, "content": m.content} for m in messages]
