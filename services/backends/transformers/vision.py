"""transformers vision path: native image-text-to-text models through AutoProcessor (LLaVA, Idefics, ...).

Phi-3.5-vision is not one of them: its hub remote code was written for transformers 4.43 and breaks on
the 5.x cache API, and transformers has no native port (PR #36036 was closed). It runs on ONNX or a
cloud target instead.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.models import embedded, local as local_models

from services.media import images as media, vision

from services.backends.memory import ResidentModels, room, weights_bytes
from services.backends.transformers.worker import eos_ids, generate_in_worker
from services.errors import BackendUnavailable, BadRequest
from services.types import Capabilities, ChatRequest, Message

MAX_IMAGES = 16
PHI3V_NAME = re.compile(r"phi-?3(\.5)?-vision", re.IGNORECASE)
PHI3V_MESSAGE = ("Phi-3/3.5-vision cannot run on the transformers backend: its remote code was written for "
                 "transformers 4.43 and fails on 5.x, and transformers has no native port.")
PHI3V_HINT = ("Use an ONNX build (onnx:<folder of microsoft/Phi-3.5-vision-instruct-onnx>) or a cloud target "
              "such as github:microsoft/phi-3.5-vision-instruct or nim:microsoft/phi-3.5-vision-instruct.")


@dataclass
class VisionModel:
    """A loaded image-text-to-text model with its processor and the lock that serialises it."""

    name: str
    model: object
    processor: object
    tokenizer: object
    context_length: int
    eos_ids: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)


_load_lock = threading.Lock()


class VisionModels(ResidentModels):
    """The vision models held here, reported and unloaded by the transformers backend."""

    name = "transformers"

    def __init__(self):
        self._models: dict[str, VisionModel] = {}

    def is_vision(self, model: VisionModel) -> bool:
        """Every model held here reads images."""
        return True

    def held(self, key: str) -> VisionModel | None:
        """The loaded model under this key, if any (marked as used)."""
        found = self._models.get(key)
        if found is not None:
            self._mark_used(key)
        return found


resident = VisionModels()


def _folder(model: str) -> Path | None:
    if model == embedded.EMBEDDED_MODEL:
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    return local_models.find("transformers", model)


def _config(model: str) -> dict | None:
    folder = _folder(model)
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None


def is_phi3v(model: str) -> bool:
    """True for Phi-3/3.5-vision, by config or by name."""
    cfg = _config(model) or {}
    archs = cfg.get("architectures") or []
    return cfg.get("model_type") == "phi3_v" or "Phi3VForCausalLM" in archs or bool(PHI3V_NAME.search(model))


def is_vision(model: str) -> bool:
    """True when the folder holds a native image-text-to-text model (cheap: reads the config files only)."""
    cfg = _config(model)
    if not cfg or cfg.get("model_type") == "phi3_v":
        return False
    # importing transformers' auto mappings takes seconds; a vision tower in the config is enough here,
    # and AutoModelForImageTextToText checks the rest when the model loads
    folder = _folder(model)
    has_processor = any((folder / f).is_file() for f in ("preprocessor_config.json", "processor_config.json"))
    return "vision_config" in cfg or (has_processor and any(
        a.endswith(("ForConditionalGeneration", "ForImageTextToText")) for a in cfg.get("architectures") or []))


def capabilities(model: str, ignored: frozenset[str] = frozenset()) -> Capabilities | None:
    """Image capabilities for a vision folder, or None to let the text path answer."""
    if is_phi3v(model):
        # listed honestly: the request is refused before any load with the reason and a way out
        return Capabilities(text=True, images=True, max_images=MAX_IMAGES, context_length=131072,
                            ignored_params=ignored)
    if not is_vision(model):
        return None
    cfg = _config(model) or {}
    text_cfg = cfg.get("text_config") or {}
    ctx = int(text_cfg.get("max_position_embeddings") or cfg.get("max_position_embeddings") or 4096)
    return Capabilities(text=True, images=True, max_images=MAX_IMAGES, context_length=ctx, ignored_params=ignored)


def load(model: str) -> VisionModel:
    """Load the processor and model once per process."""
    if is_phi3v(model):
        raise BackendUnavailable(PHI3V_MESSAGE, hint=PHI3V_HINT)
    with _load_lock:
        held = resident.held(model)
        if held is not None:
            return held
        folder = _folder(model)
        if folder is None:
            raise BadRequest(f"{model} is not a local vision model folder.")
        with room(resident, model, weights_bytes(folder)):
            try:
                import torch
                from transformers import AutoModelForImageTextToText, AutoProcessor
            except ImportError as exc:
                raise BackendUnavailable("transformers or torch is not installed.",
                                         hint="Run: pip install -r requirements.txt") from exc
            try:
                processor = AutoProcessor.from_pretrained(folder)
                mdl = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32)
            except (OSError, ValueError) as exc:
                raise BackendUnavailable(f"Could not load the vision model in {folder.name}: {exc}") from exc
            mdl.eval()
            tok = processor.tokenizer
            text_cfg = getattr(mdl.config, "text_config", mdl.config)
            ctx = int(getattr(text_cfg, "max_position_embeddings", 4096) or 4096)
            vm = VisionModel(model, mdl, processor, tok, ctx, eos_ids(mdl, tok))
            resident.keep(model, vm, sum(t.numel() * t.element_size() for t in (*mdl.parameters(), *mdl.buffers())))
            return vm


def processor_messages(messages: tuple[Message, ...]) -> tuple[list[dict], list]:
    """Chat-template content lists ({"type": "image"} per image, then the text) and the PIL images."""
    out, images = [], []
    for m in messages:
        if not m.images:
            out.append({"role": m.role, "content": [{"type": "text", "text": m.content}]})
            continue
        note = vision.media_note(m.images, len(images) + 1)
        parts = [{"type": "image"} for _ in m.images]
        parts.append({"type": "text", "text": f"{note}\n{m.content}" if note else m.content})
        out.append({"role": m.role, "content": parts})
        images.extend(media.decode_part(p) for p in m.images)
    return out, images


def inputs(vm: VisionModel, messages: tuple[Message, ...]):
    """Processor tensors (input_ids, attention_mask, pixel_values, ...) for the conversation."""
    chat, images = processor_messages(messages)
    prompt = vm.processor.apply_chat_template(chat, add_generation_prompt=True)
    try:
        return vm.processor(text=prompt, images=images or None, return_tensors="pt")
    except ValueError as exc:
        raise BadRequest(f"The vision processor refused this request: {exc}") from exc


def count_tokens(model: str, messages: tuple[Message, ...]) -> int:
    """Prompt tokens with every image expanded to its image tokens."""
    vm = load(model)
    return int(inputs(vm, messages)["input_ids"].shape[-1])


def stream(backend, request: ChatRequest) -> Iterator:
    """Generate in a worker thread; closing the iterator stops it within one token."""
    vm = load(request.target.model)
    p = request.params
    batch = inputs(vm, request.messages)
    n_prompt = int(batch["input_ids"].shape[-1])
    if n_prompt >= vm.context_length:
        raise BadRequest(f"The prompt with its images is {n_prompt} tokens; this model's context is {vm.context_length}.")
    kwargs = backend.generation_kwargs(vm, p)

    def generate(streamer, stopping_criteria):
        return vm.model.generate(**batch, streamer=streamer, tokenizer=vm.tokenizer,
                                 stopping_criteria=stopping_criteria, **kwargs)

    yield from generate_in_worker(vm.lock, vm.tokenizer, generate, n_prompt, p,
                                  thread_name="transformers-vision-generate")


def handles(model: str) -> bool:
    """True when this module, not the text path, must serve the model (a vision folder or Phi-3-vision)."""
    return is_phi3v(model) or is_vision(model)
