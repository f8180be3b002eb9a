"""Offline image questions: RapidOCR reads the text in each image, the embedded model answers from it.

This target reads text; it does not see. The text read from media (services.media.ocr) goes into a
delimited, untrusted block of the user turn (services.media.vision.short_untrusted_block), never into
the system prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from services.backends import get_backend
from services.backends.base import HoldsNoModels
from services.errors import BackendUnavailable
from services.media import ocr, vision
from services.models import embedded
from services.types import Capabilities, ChatRequest, Message, Target, TargetInfo

ANSWER_BACKEND = "onnx"
# frames from a video count as images; each costs one OCR pass
MAX_IMAGES = 64
# short and direct: a 135M model given a long preamble answers by repeating it
SYSTEM = "Answer directly in one short sentence."


class OcrBackend(HoldsNoModels):
    """`ocr:MODEL`: RapidOCR plus a local ONNX text model (the embedded one by default)."""

    name = "ocr"

    def _answer(self):
        return get_backend(ANSWER_BACKEND)

    def list_targets(self) -> list[TargetInfo]:
        """One target: the embedded model reading OCR text."""
        ok, reason = True, ""
        try:
            ocr.engine_class()
            embedded.gguf_path()
        except BackendUnavailable as exc:
            ok, reason = False, exc.message
        return [TargetInfo(
            f"ocr:{embedded.EMBEDDED_MODEL}", ok, reason,
            label="Reads text in images (RapidOCR) + SmolLM2, offline: it reads text, it does not see",
            family="SmolLM2-135M", capabilities=self.capabilities(embedded.EMBEDDED_MODEL),
        )]

    def capabilities(self, model: str) -> Capabilities:
        """The answering model's limits, with images allowed."""
        base = self._answer().capabilities(model)
        return replace(base, images=True, max_images=MAX_IMAGES, local=True)

    def prepare(self, model: str) -> None:
        """Load the answering model and the OCR engine."""
        self._answer().prepare(model)
        ocr.reader.engine()

    def text_messages(self, messages: tuple[Message, ...]) -> tuple[Message, ...]:
        """The conversation with each image replaced by what was read from it, in an untrusted block."""
        out, number = [], 1
        for m in messages:
            if not m.images:
                out.append(m)
                continue
            sections = []
            for part in m.images:
                label = vision.describe(part, number) + (f", {part.label}" if part.label and part.timestamp_s is None else "")
                sections.append((label, ocr.reader.read(part)))
                number += 1
            out.append(Message(m.role, f"{vision.short_untrusted_block(sections)}\n\nQuestion: {m.content}"))
        if not any(m.role == "system" for m in out):
            out.insert(0, Message("system", SYSTEM))
        return tuple(out)

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Tokens of the text the answering model will really get."""
        return self._answer().count_tokens(model, self.text_messages(messages))

    def stream(self, request: ChatRequest) -> Iterator:
        """Read the images, then stream the answering model's tokens."""
        messages = self.text_messages(request.messages)
        inner = replace(request, target=Target(ANSWER_BACKEND, request.target.model), messages=messages)
        yield from self._answer().stream(inner)
