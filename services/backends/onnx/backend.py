"""ONNX Runtime GenAI: a pull loop over og.Generator, no thread needed."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from services.models import embedded, embedded_background, local as local_models

from services.backends import get_backend, kv_reuse, limits
from services.backends.base import StopMatcher, messages_as_dicts
from services.backends.memory import ResidentModels, folder_bytes, room
from services.backends.onnx import vision as onnx_vision
from services.backends.onnx.decode import decode_tokens
from services.backends.onnx.options import search_options  # noqa: F401
from services.errors import BackendUnavailable, BadRequest
from services.structured.guidance import check_grammar, grammar_schema
from services.types import Capabilities, ChatRequest, Done, Message, ServerMetrics, Target, TargetInfo, Usage

# how refusals of a schema name this runtime
RUNTIME = "ONNX Runtime GenAI"


@dataclass
class LoadedModel:
    """One og.Model with its tokenizer and the lock that serialises generation on it."""

    folder: Path
    model: object
    tokenizer: object
    context_length: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    # the last text generation's generator, kept for the next turn of the same conversation
    live: kv_reuse.LiveState | None = None


def _og():
    try:
        import onnxruntime_genai as og
    except ImportError as exc:
        raise BackendUnavailable(
            "ONNX Runtime GenAI is not installed.", hint="Run: pip install -r requirements.txt"
        ) from exc
    return og


def resolve_folder(model: str, progress=None) -> Path:
    """Map a model name to a folder holding genai_config.json (building the embedded one if needed)."""
    if model == embedded.EMBEDDED_MODEL:
        return embedded.ensure_onnx(progress or embedded.quiet)
    path = Path(model).expanduser()
    if path.is_dir() and (path / "genai_config.json").is_file():
        return path
    found = local_models.find("onnx", model)
    if found is not None:
        return found
    raise BadRequest(
        f"No ONNX model named {model!r}. Use {embedded.EMBEDDED_MODEL}, a folder with "
        "genai_config.json, or a model installed from the Models page."
    )


class OnnxBackend(ResidentModels):
    """Local generation with onnxruntime-genai."""

    name = "onnx"
    ignored_params: frozenset[str] = frozenset()

    def __init__(self):
        self._models: dict[Path, LoadedModel] = {}
        self._load_lock = threading.Lock()

    def is_vision(self, model: LoadedModel) -> bool:
        """A phi3v folder reads images."""
        return onnx_vision.reads_images(model)

    def forget_state(self, model: LoadedModel) -> None:
        """Drop the kept generator of the last conversation."""
        model.live = None

    def list_targets(self) -> list[TargetInfo]:
        """The embedded model plus any installed ONNX model."""
        out = []
        try:
            import onnxruntime_genai  # noqa: F401

            ok, reason = True, ""
        except ImportError:
            ok, reason = False, "onnxruntime-genai is not installed"
        if ok:
            try:
                embedded.gguf_path()
            except BackendUnavailable as exc:
                ok, reason = False, exc.message
        out.append(
            TargetInfo(
                f"onnx:{embedded.EMBEDDED_MODEL}", ok, reason,
                label="SmolLM2-135M-Instruct (embedded, ONNX int8)", family="SmolLM2-135M",
                capabilities=self.capabilities(embedded.EMBEDDED_MODEL),
            )
        )
        for name, folder in local_models.installed("onnx"):
            out.append(TargetInfo(f"onnx:{name}", ok, reason, label=f"{name} (ONNX, local)",
                                  family=local_models.family_of(name),
                                  capabilities=self.capabilities(name)))
        return out

    def capabilities(self, model: str) -> Capabilities:
        """Text only here; context length read from genai_config.json when the folder exists."""
        ctx = 8192
        try:
            if model == embedded.EMBEDDED_MODEL:
                folder = embedded.onnx_dir()
            else:
                # an installed model is named, a brought-in one may be a path
                folder = local_models.find("onnx", model) or Path(model)
            cfg = json.loads((folder / "genai_config.json").read_text())
            ctx = int(cfg["model"]["context_length"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if onnx_vision.is_vision(model):
            # the vision loop takes no grammar yet: JSON answers are not constrained there
            return onnx_vision.capabilities(ctx, self.ignored_params | {"response_format"})
        return Capabilities(text=True, context_length=ctx, ignored_params=self.ignored_params)

    def load(self, model: str, progress=None) -> LoadedModel:
        """Load once per process; later calls return the shared instance."""
        folder = resolve_folder(model, progress)
        with self._load_lock:
            if folder not in self._models:
                with room(self, folder, folder_bytes(folder)):
                    og = _og()
                    try:
                        m = og.Model(str(folder))
                        tok = og.Tokenizer(m)
                    except Exception as exc:  # og raises plain RuntimeError for bad folders
                        raise BackendUnavailable(f"Could not load the ONNX model in {folder.name}: {exc}") from exc
                    cfg = json.loads((folder / "genai_config.json").read_text())
                    ctx = int(cfg.get("model", {}).get("context_length", 4096))
                    self._models[folder] = LoadedModel(folder, m, tok, ctx)
                    self._mark_used(folder, folder_bytes(folder))
            self._mark_used(folder)
            return self._models[folder]

    def prepare(self, model: str) -> None:
        """Load the model so its time is counted as load, not time to first token."""
        other = embedded_background.stand_in(model)
        if other is not None:
            # the default's ONNX copy is still building: the runtime answering meanwhile loads instead
            get_backend(Target.parse(other).backend).prepare(model)
            return
        self.load(model)

    def prompt_text(self, loaded: LoadedModel, messages: tuple[Message, ...]) -> str:
        """The chat template applied by the tokenizer, ending with the assistant turn."""
        return loaded.tokenizer.apply_chat_template(
            json.dumps(messages_as_dicts(messages)), add_generation_prompt=True
        )

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Prompt tokens after templating."""
        other = embedded_background.stand_in(model)
        if other is not None:
            return get_backend(Target.parse(other).backend).count_tokens(model, messages)
        if any(m.images for m in messages):
            return onnx_vision.count_tokens(self.load(model), messages)
        loaded = self.load(model)
        return len(loaded.tokenizer.encode(self.prompt_text(loaded, messages)))

    def stream(self, request: ChatRequest) -> Iterator:
        """Generate token by token; closing the iterator stops at the next token."""
        if any(m.images for m in request.messages):
            yield from onnx_vision.stream(self, request)
            return
        other = embedded_background.stand_in(request.target.model)
        if other is not None:
            # a fresh install: llama.cpp answers from the same GGUF while the ONNX copy builds
            # in the background; the default switches once that copy is complete and valid
            # said first, so even an answer stopped early records which runtime gave it
            yield ServerMetrics({"answered_by": other, "default_building": True})
            stand_in = Target.parse(other)
            yield from get_backend(stand_in.backend).stream(replace(request, target=stand_in))
            return
        og = _og()
        loaded = self.load(request.target.model)
        p = request.params
        ids = loaded.tokenizer.encode(self.prompt_text(loaded, request.messages))
        if len(ids) >= loaded.context_length:
            raise BadRequest(
                f"The prompt is {len(ids)} tokens; this model's context is {loaded.context_length}."
            )
        need = min(len(ids) + p.max_tokens, loaded.context_length)
        max_new = need - len(ids)
        options = search_options(p)
        # the runtime's own llguidance compiles the schema; checked here so a refusal is one sentence
        guidance = json.dumps(grammar_schema(p.response_format)) if p.response_format.is_json else None
        if guidance:
            check_grammar(p.response_format, RUNTIME)
        limits.acquire(loaded.lock)
        live, processed = None, []
        try:
            # chat mode: a prompt that continues the last conversation only feeds its new tokens
            live, start = self._live_generator(og, loaded, ids, options, need, p, guidance)
            generator = live.state
            # only prompt tokens are kept: the runtime computes one-token decode steps with other
            # kernels than a prompt, so reusing them could change a later greedy answer
            # a guided state holds the grammar's progress too: it is never reused
            processed = [] if guidance else list(ids)
            stops = StopMatcher(p.stop)
            produced = yield from decode_tokens(generator, loaded.tokenizer.create_stream().decode, stops, max_new)
            yield Usage(len(ids), produced)
            yield ServerMetrics({"prompt_cache_tokens": start})
            hit_length = not stops.stopped and produced >= max_new
            yield Done("length" if hit_length else "stop")
        except GeneratorExit:
            raise  # a stream closed early left a consistent state: keep it
        except BaseException:
            # a state left half-way through a failed run is never reused
            processed = []
            raise
        finally:
            if live is not None:
                live.tokens = processed
                loaded.live = live if processed else None
            loaded.lock.release()

    def _live_generator(self, og, loaded: LoadedModel, ids: list[int], options: dict, need: int, p,
                        guidance: str | None = None):
        """The kept generator rewound to the shared prefix, or a fresh one, with the prompt appended."""
        # a seeded sampling request must start from a fresh random state to be repeatable
        key = tuple(sorted(options.items())) if (p.greedy or p.seed is None) and not guidance else None
        live = loaded.live
        loaded.live = None
        start = live.reusable(ids, key, need) if (live is not None and key is not None) else 0
        if start:
            try:
                live.state.rewind_to(start)
                live.state.append_tokens(ids[start:])
                return live, start
            except RuntimeError:
                pass  # a runtime that cannot rewind this model: start afresh
        live = None  # free the old KV buffers before allocating new ones
        capacity = kv_reuse.capacity_for(need, loaded.context_length)
        params = og.GeneratorParams(loaded.model)
        params.set_search_options(max_length=capacity, **options)
        if guidance:
            # forced tokens stay off: get_next_tokens() returns one token per step and would drop them
            params.set_guidance("json_schema", guidance, False)
        try:
            generator = og.Generator(loaded.model, params)
        except RuntimeError as exc:
            if guidance and "grammar" in str(exc).lower():
                raise BadRequest(f"{RUNTIME} cannot use this schema: {str(exc)[:200]}.") from None
            raise
        generator.append_tokens(ids)
        return kv_reuse.LiveState(generator, key, capacity), 0
