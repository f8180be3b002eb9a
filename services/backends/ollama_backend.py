"""Ollama (official `ollama` client): streamed chat, server metrics, model list and pull."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

from services import credentials, scope

from services.backends.base import HoldsNoModels
from services.models import catalog
from services.errors import (
    BackendTimeout,
    BackendUnavailable,
    BadRequest,
    IncompleteGeneration,
    MediaError,
    PlaygroundError,
)
from services.media import vision
from services.providers import CONNECT_TIMEOUT_S, DISCOVERY_TIMEOUT_S, READ_TIMEOUT_S, Health
from services.structured.wire import ollama_format
from services.types import Capabilities, ChatRequest, Done, Message, ServerMetrics, TargetInfo, Token, Usage

DEFAULT_HOST = "http://127.0.0.1:11434"
# Ollama allocates the whole context up front; 8k keeps a 3.8B model within a laptop's memory
MAX_NUM_CTX = 8192
LIST_TTL_S = 30.0
# model lists kept at once (one per host + key in use)
LIST_CACHE_MAX = 64


def _sdk():
    try:
        import ollama
    except ImportError as exc:  # pragma: no cover - ollama is in requirements.txt
        raise BackendUnavailable("The ollama package is not installed.",
                                 hint="Run: pip install -r requirements.txt") from exc
    return ollama


def _with_scheme(h: str) -> str:
    return h if "://" in h else f"http://{h}"


def credential(host_url: str | None = None) -> credentials.Credential:
    """The Ollama host and the key bound to it: a host typed for this session never gets the
    configured OLLAMA_API_KEY (the ollama client would otherwise add it to any host)."""
    cred = credentials.resolve("ollama", address_setting="OLLAMA_HOST", key_setting="OLLAMA_API_KEY",
                               default_address=DEFAULT_HOST, given_address=host_url)
    address = _with_scheme(cred.address)
    return cred if address == cred.address else dataclasses.replace(cred, address=address)


def host() -> str:
    """OLLAMA_HOST (session, secrets.toml or environment), else the local default."""
    return credential().address


def pull_hint(model: str) -> str:
    """What to run to get a model."""
    return f"Run: ollama pull {model} (or use Pull on the Models page)."


class OllamaBackend(HoldsNoModels):
    """Chat with models served by a local (or remote) Ollama."""

    name = "ollama"
    ignored_params: frozenset[str] = frozenset()

    def __init__(self, host_url: str | None = None, *, read_timeout_s: float = READ_TIMEOUT_S):
        self._host = host_url
        self.read_timeout_s = read_timeout_s
        # each session's own outcomes, per host + key
        self._health: scope.PerScope[Health] = scope.PerScope(Health)
        # pulled-model lists per host + key (a digest of both), least recently listed dropped first
        self._listed: OrderedDict[str, tuple[float, list[dict]]] = OrderedDict()
        self._lock = threading.Lock()

    def credential(self) -> credentials.Credential:
        """The host used now and the key bound to it."""
        return credential(self._host)

    def host(self) -> str:
        """The Ollama address used now."""
        return self.credential().address

    def health(self) -> Health:
        """This session's last outcome with the host and key in use now."""
        return self._health.get(self.credential().digest)

    def client(self, read_timeout_s: float | None = None, cred: credentials.Credential | None = None):
        """A client with a real timeout (the library's default is none at all) and the bound key only."""
        import httpx

        ollama = _sdk()
        cred = cred or self.credential()
        read = read_timeout_s or self.read_timeout_s
        return ollama.Client(host=cred.address, timeout=httpx.Timeout(read, connect=min(CONNECT_TIMEOUT_S, read)),
                             **credentials.http_options(cred, bearer=True))

    def translate(self, exc: Exception, model: str = "") -> PlaygroundError:
        """Ollama client errors as ours, with what to do about them."""
        import httpx

        ollama = _sdk()
        cred = self.credential()
        where = cred.shown_address
        if isinstance(exc, ollama.ResponseError):
            text = cred.redact(str(exc.error or ""))[:300]
            if 300 <= exc.status_code < 400:
                return BadRequest(f"Ollama at {where} answered with a redirect (HTTP {exc.status_code}), "
                                  "which is not followed: a key goes only to the address it was set for.",
                                  hint="Set OLLAMA_HOST to the address the server redirects to.")
            if exc.status_code == 404 or "not found" in text:
                return BadRequest(f"Ollama at {where} has no model {model!r}.", hint=pull_hint(model))
            if exc.status_code >= 500:
                return BackendUnavailable(f"Ollama failed: {text}")
            return BadRequest(f"Ollama rejected the request: {text}")
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeout(f"Ollama did not answer within {self.read_timeout_s:g} s.",
                                  hint="The model may still be loading; try again.")
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return BackendUnavailable(
                f"Ollama is not running at {where}.",
                hint="Start it with `ollama serve`, or set OLLAMA_HOST to where it runs.")
        if isinstance(exc, httpx.HTTPError):
            return BackendUnavailable(f"The connection to Ollama at {where} failed.")
        return BackendUnavailable(f"Ollama failed: {type(exc).__name__}.")

    # ---------- the interface ----------

    def capabilities(self, model: str) -> Capabilities:
        """From the catalog (llava-phi3 takes images); the context is what we ask Ollama for."""
        entry = catalog.find("ollama", model) or catalog.guess(model)
        ctx = min(entry.context_length if entry else 4096, MAX_NUM_CTX)
        images = bool(entry and entry.images) or "llava" in model.lower()
        return Capabilities(text=True, images=images, max_images=(entry.max_images if entry else 1) if images else 0,
                            context_length=ctx, ignored_params=self.ignored_params, local=True)

    def prepare(self, model: str) -> None:
        """Import the client so its import is not counted as time to first token."""
        _sdk()

    def options(self, request: ChatRequest) -> dict:
        """GenerationParams as Ollama options."""
        p = request.params
        opts = {"temperature": p.temperature, "top_p": p.top_p, "num_predict": p.max_tokens,
                "repeat_penalty": p.penalty(local=True),
                "num_ctx": self.capabilities(request.target.model).context_length}
        if p.top_k:
            opts["top_k"] = p.top_k
        if p.seed is not None:
            opts["seed"] = p.seed
        if p.stop:
            opts["stop"] = list(p.stop)
        return opts

    def messages(self, messages: tuple[Message, ...]) -> list[dict]:
        """Ollama message dicts; images go as bytes only (a string would be read as a file path)."""
        out = []
        for m in messages:
            if m.images:
                if not all(isinstance(part.data, (bytes, bytearray)) for part in m.images):
                    raise MediaError("An image must be the file's bytes; a name or path is never read.")
                out.append(vision.ollama_message(m))
            else:
                out.append({"role": m.role, "content": m.content})
        return out

    def stream(self, request: ChatRequest) -> Iterator:
        """Stream from /api/chat; the final chunk's eval_* numbers become ServerMetrics."""
        model = request.target.model
        cred = self.credential()
        health = self._health.get(cred.digest)
        client = self.client(cred=cred)
        text = ""
        parts = None
        try:
            try:
                # format: "json" or the schema (the server constrains decoding); None sends nothing
                parts = client.chat(model=model, messages=self.messages(request.messages),
                                    stream=True, options=self.options(request),
                                    format=ollama_format(request.params.response_format))
                for part in parts:
                    piece = part.message.content if part.message else ""
                    if piece:
                        text += piece
                        yield Token(piece)
                    if part.done:
                        yield from self._final(part)
                        health.record(True)
                        return
            except PlaygroundError:
                raise
            except Exception as exc:
                error = self.translate(exc, model)
                health.record(False, error.user_message())
                if text:
                    raise IncompleteGeneration(f"Ollama stopped mid-answer: {error.message}",
                                               partial_text=text) from None
                raise error from None
            health.record(False, "the stream ended before the answer finished")
            raise IncompleteGeneration("Ollama closed the stream before the answer finished.",
                                       partial_text=text)
        finally:
            if parts is not None:
                parts.close()
            client.close()

    def _final(self, part) -> Iterator:
        prompt, completion = part.prompt_eval_count or 0, part.eval_count or 0
        yield Usage(prompt, completion)
        ns = 1e9
        values = {"eval_count": completion, "prompt_eval_count": prompt}
        for field in ("eval_duration", "prompt_eval_duration", "load_duration", "total_duration"):
            v = getattr(part, field, None)
            if v:
                values[field.replace("duration", "s")] = round(v / ns, 4)
        if part.eval_duration:
            values["eval_tokens_per_s"] = round(completion / (part.eval_duration / ns), 2)
        yield ServerMetrics(values)
        yield Done("length" if part.done_reason == "length" else "stop")

    # ---------- models ----------

    def installed(self, *, fresh: bool = False) -> list[dict]:
        """Models Ollama has pulled ({'name', 'size', 'parameter_size', 'quantization'})."""
        now, cred = time.time(), self.credential()
        health = self._health.get(cred.digest)
        with self._lock:
            hit = self._listed.get(cred.digest)
        if not fresh and hit and now - hit[0] < LIST_TTL_S:
            return hit[1]
        client = self.client(DISCOVERY_TIMEOUT_S, cred)
        try:
            listing = client.list()
        except Exception as exc:
            error = self.translate(exc)
            health.record(False, error.user_message())
            raise error from None
        finally:
            client.close()
        items = [{"name": m.model, "size": m.size or 0,
                  "parameter_size": getattr(m.details, "parameter_size", "") if m.details else "",
                  "quantization": getattr(m.details, "quantization_level", "") if m.details else ""}
                 for m in listing.models]
        health.record(True)
        with self._lock:
            self._listed[cred.digest] = (now, items)
            self._listed.move_to_end(cred.digest)
            while len(self._listed) > LIST_CACHE_MAX:
                self._listed.popitem(last=False)
        return items

    def list_targets(self) -> list[TargetInfo]:
        """Pulled models are available; catalog tags not pulled yet say how to get them."""
        known = catalog.ids_for("ollama")
        try:
            names = [m["name"] for m in self.installed()]
        except PlaygroundError as exc:
            return [self._info(tag, False, exc.user_message()) for tag, _ in known]
        out = [self._info(n[:-7] if n.endswith(":latest") else n, True, "") for n in names]
        have = {i.target for i in out}
        for tag, _entry in known:
            if f"ollama:{tag}" not in have:
                out.append(self._info(tag, False, f"Not pulled yet. {pull_hint(tag)}"))
        return out

    def _info(self, model: str, ok: bool, reason: str) -> TargetInfo:
        entry = catalog.find("ollama", model) or catalog.guess(model)
        return TargetInfo(f"ollama:{model}", ok, reason,
                          label=f"{entry.name if entry else model} (Ollama)",
                          family=entry.family if entry else model, capabilities=self.capabilities(model))

    def pull(self, model: str, progress: Callable[[str, float | None], None] | None = None) -> None:
        """Pull a model, reporting (status, fraction or None) as Ollama streams its progress."""
        client = self.client()
        try:
            for p in client.pull(model, stream=True):
                if progress:
                    frac = (p.completed or 0) / p.total if p.total else None
                    progress(p.status or "", frac)
        except Exception as exc:
            raise self.translate(exc, model) from None
        finally:
            client.close()
        with self._lock:
            self._listed.clear()

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Ollama has no tokenize endpoint; the chat service estimates."""
        return None
