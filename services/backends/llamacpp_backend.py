"""llama.cpp in process (llama-cpp-python): the embedded GGUF or any local .gguf file."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services import cpu_cores, scope

from services.models import catalog, embedded, local as local_models

from services.backends import limits
from services.backends.base import messages_as_dicts
from services.backends.memory import ResidentModels, folder_bytes, room
from services.errors import BackendUnavailable, BadRequest
from services.structured import gbnf
from services.types import Capabilities, ChatRequest, Done, Message, ServerMetrics, TargetInfo, Token, Usage

# llama.cpp allocates the KV cache for the whole context up front; 4k is plenty for a playground
DEFAULT_N_CTX = 4096
# a fixed llama.cpp thread count, when set; else one per free physical core, chosen per answer
THREADS_ENV = "LLAMACPP_N_THREADS"
# used when a GGUF carries no chat template of its own
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _sdk():
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendUnavailable("llama-cpp-python is not installed.",
                                 hint="Run: pip install -r requirements.txt") from exc
    return llama_cpp


def sampling_kwargs(p) -> dict:
    """GenerationParams as create_completion arguments (the Code panel writes the same ones); the
    seed and the token budget are chosen per answer."""
    return {"temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k, "min_p": 0.0,
            "repeat_penalty": p.penalty(local=True), "stop": list(p.stop)}


def n_ctx_setting() -> int:
    """LLAMACPP_N_CTX, else 4096."""
    try:
        return max(512, int(os.environ.get("LLAMACPP_N_CTX", DEFAULT_N_CTX)))
    except ValueError:
        return DEFAULT_N_CTX


def resolve_path(model: str) -> Path:
    """The embedded GGUF, a .gguf path, or a GGUF installed from the Models page."""
    if model == embedded.EMBEDDED_MODEL:
        return embedded.gguf_path()
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf":
        if path.is_file():
            return path
        raise BadRequest(f"No GGUF file at {model}.")
    found = local_models.find("gguf", model)
    if found is not None:
        return found
    raise BadRequest(f"No llama.cpp model named {model!r}. Use {embedded.EMBEDDED_MODEL}, "
                     "a path to a .gguf file, or a GGUF installed from the Models page.")


@dataclass
class LoadedGguf:
    """One Llama instance, its chat formatter, and the lock that serialises generation."""

    path: Path
    llm: object
    formatter: object
    lock: threading.Lock = field(default_factory=threading.Lock)
    # the session whose prompt is in the live context (see kv_reuse.LiveState.owner)
    owner: str = ""
    # llama.cpp threads in use now (see LlamaCppBackend._fit_threads)
    threads: int = 0


class LlamaCppBackend(ResidentModels):
    """Local generation with llama.cpp, the engine under Ollama and LM Studio."""

    name = "llamacpp"
    ignored_params: frozenset[str] = frozenset()

    def __init__(self):
        self._models: dict[Path, LoadedGguf] = {}
        self._load_lock = threading.Lock()

    def forget_state(self, model: LoadedGguf) -> None:
        """Empty the live context, whose matching prefix the next answer would otherwise reuse."""
        model.llm.reset()

    def load(self, model: str) -> LoadedGguf:
        """Load once per process; later calls share the instance and its live context."""
        path = resolve_path(model)
        with self._load_lock:
            if path not in self._models:
                with room(self, path, folder_bytes(path)):
                    llama_cpp = _sdk()
                    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                    # one thread per free physical core (the library default, half the logical CPUs,
                    # left a third of the speed unused on an idle 2-core machine); re-checked per answer
                    threads = cpu_cores.threads_for_now(THREADS_ENV)
                    try:
                        llm = llama_cpp.Llama(str(path), n_ctx=n_ctx_setting(), n_threads=threads,
                                              n_threads_batch=threads, verbose=False)
                    except (ValueError, RuntimeError, OSError) as exc:
                        raise BackendUnavailable(f"llama.cpp could not load {path.name}: {exc}") from exc
                    # the first evaluation sets up compute buffers (seconds on a small CPU): do it
                    # here so it counts as load time, not as the first answer's time to first token
                    # (a batch, since prompts take the batched path)
                    llm.eval([max(llm.token_bos(), 0)] * 16)
                    llm.reset()
                    # no LlamaRAMCache: saving the whole KV state after every answer costs more than it
                    # saves (1.6 GB per turn for a 3.8B model at 4k); llama.cpp already keeps the live
                    # context and re-evaluates only what differs from the previous turn
                    special = lambda t: llm.detokenize([t], special=True).decode("utf-8", "replace") if t >= 0 else ""  # noqa: E731
                    formatter = Jinja2ChatFormatter(
                        template=llm.metadata.get("tokenizer.chat_template") or CHATML,
                        eos_token=special(llm.token_eos()), bos_token=special(llm.token_bos()),
                        stop_token_ids=[llm.token_eos()])
                    self._models[path] = LoadedGguf(path, llm, formatter, threads=threads)
                    self._mark_used(path, folder_bytes(path))
            self._mark_used(path)
            return self._models[path]

    def _fit_threads(self, loaded: LoadedGguf) -> None:
        """Match the thread count to the cores free right now (the caller holds the model lock)."""
        threads = cpu_cores.threads_for_now(THREADS_ENV)
        if threads != loaded.threads:
            import llama_cpp

            # llama.cpp's workers wait for each other at every step: a thread on a core another
            # process holds stalls all of them, so a busy machine gets fewer threads
            llama_cpp.llama_set_n_threads(loaded.llm.ctx, threads, threads)
            loaded.threads = threads

    def prepare(self, model: str) -> None:
        """Load the model so its time counts as load, not time to first token."""
        self.load(model)

    def capabilities(self, model: str) -> Capabilities:
        """Text only; the context is the n_ctx we load with (or less, if the model is shorter)."""
        ctx = n_ctx_setting()
        try:
            loaded = self._models.get(resolve_path(model))
        except Exception:  # capabilities must stay cheap and never raise for a bad name
            loaded = None
        if loaded is not None:
            ctx = loaded.llm.n_ctx()
        else:
            entry = catalog.find("embedded", model) or catalog.guess(Path(model).name)
            if entry:
                ctx = min(ctx, entry.context_length)
        return Capabilities(text=True, context_length=ctx, ignored_params=self.ignored_params)

    def prompt_tokens(self, loaded: LoadedGguf, messages: tuple[Message, ...]) -> tuple[list[int], list[str]]:
        """The chat template applied and tokenized, plus the template's own stop strings."""
        result = loaded.formatter(messages=messages_as_dicts(messages))
        tokens = loaded.llm.tokenize(result.prompt.encode("utf-8"),
                                     add_bos=not getattr(result, "added_special", False), special=True)
        stop = result.stop if isinstance(result.stop, list) else ([result.stop] if result.stop else [])
        return tokens, [s for s in stop if s]

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Prompt tokens after templating."""
        return len(self.prompt_tokens(self.load(model), messages)[0])

    def stream(self, request: ChatRequest) -> Iterator:
        """Generate token by token; closing the iterator stops at the next token."""
        loaded = self.load(request.target.model)
        llm, p = loaded.llm, request.params
        tokens, template_stops = self.prompt_tokens(loaded, request.messages)
        if len(tokens) >= llm.n_ctx():
            raise BadRequest(f"The prompt is {len(tokens)} tokens; this model's context is {llm.n_ctx()}.")
        grammar = gbnf.grammar_for(llm, p.response_format)  # None for free text
        limits.acquire(loaded.lock)
        parts = None
        try:
            self._fit_threads(loaded)
            if loaded.owner != scope.current():
                # another session's prompt is in the context: start afresh, so neither the reuse
                # figure nor the time to the first token reveals how much of it matches this one
                llm.reset()
                loaded.owner = scope.current()
            # tokens already in the context from the previous turn are not evaluated again
            live = list(llm.input_ids[: llm.n_tokens])
            reused = 0
            for a, b in zip(live, tokens, strict=False):
                if a != b:
                    break
                reused += 1
            parts = llm.create_completion(
                prompt=tokens, max_tokens=min(p.max_tokens, llm.n_ctx() - len(tokens)),
                **{**sampling_kwargs(p), "stop": list(p.stop) + template_stops},
                # llama-cpp-python reuses one fixed seed unless told otherwise
                seed=p.seed if p.seed is not None else random.randrange(2**31), stream=True, grammar=grammar)
            produced, finish = 0, None
            for chunk in parts:
                choice = chunk["choices"][0]
                if choice.get("text"):
                    produced += 1
                    yield Token(choice["text"])
                finish = choice.get("finish_reason") or finish
            yield Usage(len(tokens), produced)
            yield ServerMetrics({"prompt_cache_tokens": reused})
            yield Done("length" if finish == "length" else "stop")
        finally:
            if parts is not None:
                parts.close()
            loaded.lock.release()

    def list_targets(self) -> list[TargetInfo]:
        """The embedded GGUF plus any GGUF installed from the Models page."""
        try:
            _sdk()
            embedded.gguf_path()
            ok, reason = True, ""
        except BackendUnavailable as exc:
            ok, reason = False, exc.user_message()
        out = [TargetInfo(f"llamacpp:{embedded.EMBEDDED_MODEL}", ok, reason,
                          label="SmolLM2-135M-Instruct (embedded, llama.cpp Q4_1)",
                          family="SmolLM2-135M", capabilities=self.capabilities(embedded.EMBEDDED_MODEL))]
        for name, _path in local_models.installed("gguf"):
            out.append(TargetInfo(f"llamacpp:{name}", ok, reason, label=f"{name} (llama.cpp, local)",
                                  family=catalog.family_of("hf", name),
                                  capabilities=self.capabilities(name)))
        return out
