"""ONNX Runtime GenAI vision path: Phi-3.5-vision (model.type "phi3v") through its multimodal processor.

The prompt is the Phi-3 chat format with `<|image_1|>\\n<|image_2|>\\n...` before the text of each user
turn, numbered across the conversation (services.media.vision.phi3v_raw_prompt); images go in as bytes.
num_crops is fixed by the model folder's processor_config.json (4 in Microsoft's CPU build).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from services.models import embedded, local as local_models

from services.backends import limits
from services.backends.base import StopMatcher
from services.backends.onnx.decode import decode_tokens
from services.backends.onnx.options import search_options
from services.errors import BadRequest, MediaError
from services.media import vision
from services.types import Capabilities, ChatRequest, Done, Message, Usage

MAX_IMAGES = 32
VISION_TYPES = ("phi3v",)


def model_type(model: str) -> str:
    """genai_config.json's model.type for a folder ("" when unknown, never a load)."""
    if model == embedded.EMBEDDED_MODEL:
        return ""
    path = Path(model).expanduser()
    if not path.is_dir():
        path = local_models.find("onnx", model) or path
    try:
        return str(json.loads((path / "genai_config.json").read_text())["model"]["type"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def is_vision(model: str) -> bool:
    """True for an ONNX Phi-3/3.5-vision folder."""
    return model_type(model) in VISION_TYPES


def reads_images(loaded) -> bool:
    """True for a loaded og.Model of a vision type."""
    return getattr(loaded.model, "type", "") in VISION_TYPES


def capabilities(context_length: int, ignored: frozenset[str]) -> Capabilities:
    """What a phi3v ONNX model accepts."""
    return Capabilities(text=True, images=True, max_images=MAX_IMAGES, context_length=context_length,
                        ignored_params=ignored)


def _inputs(loaded, messages: tuple[Message, ...]):
    import onnxruntime_genai as og

    if not reads_images(loaded):
        raise BadRequest(f"The ONNX model in {loaded.folder.name} reads text only; pick a vision target.")
    prompt, images = vision.phi3v_raw_prompt(messages)
    processor = loaded.model.create_multimodal_processor()
    try:
        og_images = og.Images.open_bytes(*[p.data for p in images]) if images else None
        batch = processor(prompt, images=og_images)
    except RuntimeError as exc:  # og reports undecodable images and tag mismatches this way
        raise MediaError(f"The vision processor could not use these images: {exc}") from exc
    return processor, batch


def count_tokens(loaded, messages: tuple[Message, ...]) -> int:
    """Prompt tokens with the image tokens the processor inserted."""
    _processor, batch = _inputs(loaded, messages)
    return int(batch["input_ids"].shape()[-1])


def stream(backend, request: ChatRequest) -> Iterator:
    """Generate with images; closing the iterator stops at the next token."""
    import onnxruntime_genai as og

    loaded = backend.load(request.target.model)
    p = request.params
    processor, batch = _inputs(loaded, request.messages)
    n_prompt = int(batch["input_ids"].shape()[-1])
    if n_prompt >= loaded.context_length:
        raise BadRequest(f"The prompt with its images is {n_prompt} tokens; this model's context is "
                         f"{loaded.context_length}. Use fewer frames or crops.")
    max_length = min(n_prompt + p.max_tokens, loaded.context_length)
    options = {"max_length": max_length, **search_options(p)}
    limits.acquire(loaded.lock)
    generator = None
    try:
        params = og.GeneratorParams(loaded.model)
        params.set_search_options(**options)
        generator = og.Generator(loaded.model, params)
        generator.set_inputs(batch)
        stops = StopMatcher(p.stop)
        produced = yield from decode_tokens(generator, processor.create_stream().decode, stops)
        yield Usage(n_prompt, produced)
        yield Done("length" if not stops.stopped and n_prompt + produced >= max_length else "stop")
    finally:
        del generator
        loaded.lock.release()
