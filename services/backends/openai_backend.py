"""OpenAI-compatible endpoints (GitHub Models, Azure AI Foundry, NVIDIA NIM, any custom server)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from urllib.parse import urlsplit

from services import config, credentials, scope

from services.backends import openai_errors
from services.backends.base import HoldsNoModels, StopMatcher
from services.backends.client_pool import ClientPool
from services.errors import BackendTimeout, BackendUnavailable, ContentFiltered, IncompleteGeneration, PlaygroundError
from services.media import vision
from services.models import catalog
from services.providers import DISCOVERY_TIMEOUT_S, PROVIDERS, Connection, Health, Provider, connection
from services.ratelimit import is_quota, retry_after_s
from services.structured.wire import openai_response_format
from services.types import Capabilities, ChatRequest, Done, Message, ServerMetrics, TargetInfo, Token, Usage

# wait before retrying a 5xx or a refused connection: 0.25 s, then 0.5 s
BACKOFF_S = 0.25
# discovered model lists are reused this long
DISCOVERY_TTL_S = 120.0
# a failed listing is not retried for this long unless someone clicks Test connection
FAILURE_TTL_S = 30.0
DEFAULT_CONTEXT = 8192
# model lists kept at once (one per provider + address + key in use)
DISCOVERY_CACHE_MAX = 64


def _sdk():
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - openai is in requirements.txt
        raise BackendUnavailable("The openai package is not installed.",
                                 hint="Run: pip install -r requirements.txt") from exc
    return openai


def chat_kwargs(request: ChatRequest, provider: Provider, headers: dict | None = None) -> dict:
    """The chat.completions.create arguments for a request (the Code panel writes the same ones)."""
    p, model = request.params, request.target.model
    if any(m.images for m in request.messages):
        messages = vision.openai_messages(request.messages, model)
    else:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
    kw = {"model": model, "messages": messages, "stream": True, "extra_headers": headers or {},
          "stream_options": {"include_usage": True}}
    # what the caller left unset (a prompt file that sets no temperature) is left to the server
    kw.update({k: getattr(p, k) for k in ("max_tokens", "temperature", "top_p") if k not in p.unset})
    if p.seed is not None:
        kw["seed"] = p.seed
    if p.stop:
        kw["stop"] = list(p.stop[:4])  # the OpenAI API takes at most 4; the rest are cut here
    response_format = openai_response_format(p.response_format)  # None for free text: not sent
    if response_format is not None:
        kw["response_format"] = response_format
    extra = {}
    if "top_k" not in provider.ignored_params and p.top_k:
        extra["top_k"] = p.top_k
    if "repetition_penalty" not in provider.ignored_params and p.penalty(local=False) != 1.0:
        # vLLM reads repetition_penalty, llama.cpp server repeat_penalty
        extra.update(repetition_penalty=p.penalty(local=False), repeat_penalty=p.penalty(local=False))
    if extra:
        kw["extra_body"] = extra
    return kw


# SDK clients shared by requests to the same provider, address and key (see client_pool)
CLIENTS = ClientPool()


class OpenAICompatBackend(HoldsNoModels):
    """One OpenAI-compatible backend, configured per provider (see services/providers.py)."""

    def __init__(self, provider: Provider | str, *, base_url: str | None = None,
                 api_key: str | None = None, read_timeout_s: float | None = None,
                 connect_timeout_s: float | None = None, max_retries: int | None = None,
                 catalog_url: str | None = None):
        self.provider = PROVIDERS[provider] if isinstance(provider, str) else provider
        self.name = self.provider.name
        # explicit values (tests, a self-hosted copy) replace the configured ones
        self._base_url, self._api_key = base_url, api_key
        self.read_timeout_s = read_timeout_s or self.provider.read_timeout_s
        self.connect_timeout_s = connect_timeout_s or self.provider.connect_timeout_s
        self.max_retries = self.provider.max_retries if max_retries is None else max_retries
        self.catalog_url = catalog_url or self.provider.catalog_url
        # each session's own outcomes, per address + key: one session's errors never show in another
        self._health: scope.PerScope[Health] = scope.PerScope(Health)
        # model lists per provider + address + key (a digest): a list found with one session's key
        # is shown only to a session holding the same key for the same address
        self._discovered: OrderedDict[str, tuple[float, list[dict]]] = OrderedDict()
        self._failed: OrderedDict[str, tuple[float, PlaygroundError]] = OrderedDict()
        self._lock = threading.Lock()

    # ---------- connection and client ----------

    def connection(self) -> Connection:
        """Base URL and key for this provider; BackendUnavailable says what to set when missing."""
        return connection(self.provider, base_url=self._base_url, api_key=self._api_key)

    def health(self) -> Health:
        """This session's last outcome with the address and key in use now."""
        try:
            return self.health_of(self.connection())
        except PlaygroundError:
            return self._health.get(None)

    def health_of(self, conn: Connection) -> Health:
        """This session's last outcome with one connection."""
        return self._health.get(conn.credential.digest)

    def client(self, conn: Connection, *, timeout_s: float | None = None):
        """An SDK client that sends this provider's key to this provider's URL only."""
        openai = _sdk()
        import httpx2

        headers: dict = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
        if conn.key and self.provider.auth == "api-key":
            headers["api-key"] = conn.key
        read = timeout_s or self.read_timeout_s
        return openai.OpenAI(
            base_url=conn.base_url,
            # a callable keeps the SDK from falling back to $OPENAI_API_KEY for other providers
            api_key=(lambda k=conn.key: k) if conn.key else (lambda: ""),
            default_headers=headers, default_query=conn.query or None,
            timeout=httpx2.Timeout(read, connect=min(self.connect_timeout_s, read)),
            max_retries=0,  # retries are ours: a quota 429 must not be retried blindly
            # no redirects, and no key header to any other origin (see services/credentials.py)
            http_client=openai.DefaultHttpxClient(**credentials.http_options(conn.credential)),
        )

    def client_key(self, conn: Connection, timeout_s: float | None = None) -> tuple:
        """What a shared client is bound to: provider, address, key (as a digest), query and timeout."""
        return (self.provider.name, conn.base_url, conn.credential.digest,
                tuple(sorted((conn.query or {}).items())), timeout_s or self.read_timeout_s)

    @staticmethod
    def request_headers(conn: Connection) -> dict:
        """Per-request headers: with no key, no Authorization header at all (not a dummy one)."""
        return {} if conn.key else {"Authorization": _sdk().Omit()}

    # ---------- errors ----------

    def translate(self, exc: Exception, conn: Connection, model: str = "") -> PlaygroundError:
        """An SDK error as one of ours, in plain words, with any key scrubbed out."""
        return openai_errors.translate(exc, conn, self.provider, self.read_timeout_s, model)

    # ---------- the interface ----------

    def prepare(self, model: str) -> None:
        """Import the SDK and check the settings, so neither is counted in time to first token."""
        _sdk()
        import httpx2  # noqa: F401

        self.connection()

    def capabilities(self, model: str) -> Capabilities:
        """From the catalog when the id is known; cloud targets are never local."""
        entry = catalog.find(self.name, model) or catalog.guess(model)
        if entry:
            return entry.capabilities(local=False, ignored=self.provider.ignored_params)
        ctx = DEFAULT_CONTEXT
        for item in self._cached_models():
            if item.get("id") == model and item.get("max_model_len"):
                ctx = int(item["max_model_len"])  # vLLM reports it in /models
        return Capabilities(context_length=ctx, ignored_params=self.provider.ignored_params,
                            local=False)

    def _kwargs(self, request: ChatRequest, headers: dict) -> dict:
        return chat_kwargs(request, self.provider, headers)

    def _open(self, client, conn: Connection, kw: dict):
        """Create the stream with bounded retries: 5xx and refused connections, one short 429."""
        openai = _sdk()
        attempt, retried_429 = 0, False
        while True:
            try:
                return client.chat.completions.create(**kw)
            except openai.RateLimitError as exc:
                wait = retry_after_s(exc.response.headers)
                if not retried_429 and not is_quota(exc, wait):
                    retried_429 = True
                    time.sleep(wait or 0)
                    continue
                raise self.translate(exc, conn, kw["model"]) from None
            except openai.APITimeoutError as exc:
                # a slow first byte will be slow again; report it within one read timeout
                raise self.translate(exc, conn, kw["model"]) from None
            except (openai.APIConnectionError, openai.InternalServerError) as exc:
                if attempt < self.max_retries:
                    time.sleep(BACKOFF_S * 2 ** attempt)
                    attempt += 1
                    continue
                raise self.translate(exc, conn, kw["model"]) from None
            except openai.APIError as exc:
                raise self.translate(exc, conn, kw["model"]) from None

    def stream(self, request: ChatRequest) -> Iterator:
        """Stream tokens; usage from the final chunk; a cut stream raises IncompleteGeneration."""
        openai = _sdk()
        conn = self.connection()
        health = self.health_of(conn)
        key = self.client_key(conn)
        client = CLIENTS.acquire(key, lambda: self.client(conn))
        stream = None
        text, finish = "", None
        stops = StopMatcher(request.params.stop)
        try:
            try:
                stream = self._open(client, conn, self._kwargs(request, self.request_headers(conn)))
            except PlaygroundError as exc:
                health.record(False, exc.user_message())
                raise
            try:
                for chunk in stream:
                    if chunk.usage is not None:
                        u = chunk.usage
                        yield Usage(u.prompt_tokens or 0, u.completion_tokens or 0)
                        yield ServerMetrics({"usage_prompt_tokens": u.prompt_tokens,
                                             "usage_completion_tokens": u.completion_tokens})
                    # the usage chunk (and some keep-alives) carry no choices
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    piece = getattr(choice.delta, "content", None) if choice.delta else None
                    if piece:
                        out = stops.feed(piece)
                        text += out
                        if out:
                            yield Token(out)
                        if stops.stopped:
                            finish = "stop"
                            break
                    if choice.finish_reason:
                        finish = choice.finish_reason
            except openai.APIError as exc:
                error = self.translate(exc, conn, request.target.model)
                if isinstance(exc, openai.APIConnectionError) and not isinstance(error, BackendTimeout):
                    # a cut after the headers arrived: the server was reachable, the stream broke
                    error = IncompleteGeneration(
                        f"The connection to {self.provider.title} broke mid-answer.", partial_text=text)
                health.record(False, error.user_message())
                if text and not isinstance(error, (BackendTimeout, IncompleteGeneration)):
                    raise IncompleteGeneration(
                        f"{self.provider.title} stopped mid-answer: {error.message}",
                        partial_text=text) from None
                raise error from None
            except Exception as exc:  # httpx2 read errors surface raw from inside the iterator
                if isinstance(exc, PlaygroundError):
                    raise
                health.record(False, "the connection broke mid-answer")
                raise IncompleteGeneration(
                    f"The connection to {self.provider.title} broke mid-answer.",
                    partial_text=text) from None
            tail = stops.flush()
            if tail:
                yield Token(tail)
            if finish is None:
                health.record(False, "the stream ended before the answer finished")
                raise IncompleteGeneration(
                    f"{self.provider.title} closed the stream before the answer finished.",
                    partial_text=text + tail)
            if finish == "content_filter":
                raise ContentFiltered(f"{self.provider.title}'s content filter stopped the answer.")
            health.record(True)
            yield Done("length" if finish == "length" else "stop")
        finally:
            if stream is not None:
                stream.close()
            # the client stays for the next request to the same provider, address and key; the
            # pool closes it (and its sockets) once idle
            CLIENTS.release(key)

    # ---------- discovery ----------

    def _cached_models(self) -> list[dict]:
        """The list discovered with the address and key in use now (none from anyone else's)."""
        try:
            digest = self.connection().credential.digest
        except PlaygroundError:
            return []
        with self._lock:
            hit = self._discovered.get(digest)
        return hit[1] if hit else []

    def discover(self, *, fresh: bool = False) -> list[dict]:
        """Models the provider offers now ({'id', ...}); cached a couple of minutes per address + key."""
        conn = self.connection()
        health = self.health_of(conn)
        # a digest, so the cache key never holds the key itself
        cache_key = conn.credential.digest
        with self._lock:
            hit = self._discovered.get(cache_key)
            failed = self._failed.get(cache_key)
        if not fresh and hit and time.time() - hit[0] < DISCOVERY_TTL_S:
            return hit[1]
        if not fresh and failed and time.time() - failed[0] < FAILURE_TTL_S:
            # an unreachable provider must not cost every page render another timeout
            raise failed[1]
        client = self.client(conn, timeout_s=DISCOVERY_TIMEOUT_S)
        try:
            items = self._fetch(client, conn)
        except _sdk().APIError as exc:
            error = self.translate(exc, conn)
            health.record(False, error.user_message())
            with self._lock:
                _remember(self._failed, cache_key, (time.time(), error))
            raise error from None
        finally:
            client.close()
        health.record(True)
        with self._lock:
            _remember(self._discovered, cache_key, (time.time(), items))
            self._failed.pop(cache_key, None)
        return items

    def _fetch(self, client, conn: Connection) -> list[dict]:
        same_host = self.catalog_url and urlsplit(self.catalog_url).netloc == urlsplit(conn.base_url).netloc
        if self.provider.discovery == "github-catalog" and same_host:
            raw = client.get(self.catalog_url, cast_to=object,
                             options={"headers": self.request_headers(conn)})
            items = [{"id": m.get("id"), "name": m.get("name", ""),
                      "max_model_len": (m.get("limits") or {}).get("max_input_tokens")}
                     for m in (raw if isinstance(raw, list) else []) if isinstance(m, dict)]
        else:
            items = [m.model_dump() for m in client.models.list(extra_headers=self.request_headers(conn))]
        flt = self.provider.id_filter
        return [m for m in items if m.get("id") and (not flt or flt in m["id"].lower())]

    def list_targets(self) -> list[TargetInfo]:
        """Every target of this provider; unconfigured or unreachable ones say why."""
        known = catalog.ids_for(self.name) if self.name in catalog.CLOUD else []
        try:
            conn = self.connection()
        except BackendUnavailable as exc:
            return self._unavailable(known, exc.user_message())
        if self.name == "azure":
            # deployments cannot be listed with a key alone; name them in AZURE_AI_DEPLOYMENTS
            names = [n.strip() for n in (config.value("AZURE_AI_DEPLOYMENTS") or "").split(",") if n.strip()]
            ids = names or [mid for mid, _ in known]
            return [self._info(mid, True, "") for mid in ids]
        try:
            found = [m["id"] for m in self.discover()]
        except PlaygroundError as exc:
            return self._unavailable(known or [("*", None)], exc.user_message())
        out = [self._info(mid, True, "") for mid in found]
        have = {mid.lower() for mid in found}
        for mid, _entry in known:
            if mid.lower() not in have:
                out.append(self._info(mid, False, f"{self.provider.title} does not list this model now."))
        if not out:
            out.append(TargetInfo(f"{self.name}:*", False,
                                  f"{conn.credential.shown_address} lists no models."))
        return out

    def _unavailable(self, known, reason: str) -> list[TargetInfo]:
        if not known:
            return [TargetInfo(f"{self.name}:*", False, reason, label=self.provider.title,
                               capabilities=Capabilities(local=False))]
        return [self._info(mid, False, reason) for mid, _ in known]

    def _info(self, model: str, ok: bool, reason: str) -> TargetInfo:
        entry = catalog.find(self.name, model) or catalog.guess(model)
        label = f"{entry.name if entry else model} ({self.provider.title})"
        return TargetInfo(f"{self.name}:{model}", ok, reason, label=label,
                          family=entry.family if entry else model,
                          capabilities=self.capabilities(model))

    def count_tokens(self, model: str, messages: tuple[Message, ...]) -> int | None:
        """Remote tokenizers are not reachable; the chat service estimates instead."""
        return None


def _remember(cache: OrderedDict, key: str, value) -> None:
    """Store in a bounded cache; the least recently stored entry goes first."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > DISCOVERY_CACHE_MAX:
        cache.popitem(last=False)


class GitHubBackend(OpenAICompatBackend):
    """GitHub Models (GITHUB_TOKEN)."""

    def __init__(self, **kw):
        super().__init__("github", **kw)


class AzureBackend(OpenAICompatBackend):
    """Azure AI Foundry (AZURE_AI_ENDPOINT + AZURE_AI_API_KEY)."""

    def __init__(self, **kw):
        super().__init__("azure", **kw)


class NimBackend(OpenAICompatBackend):
    """NVIDIA NIM on build.nvidia.com (NVIDIA_API_KEY)."""

    def __init__(self, **kw):
        super().__init__("nim", **kw)


class CustomOpenAIBackend(OpenAICompatBackend):
    """Any OpenAI-compatible server at OPENAI_BASE_URL (vLLM, llama.cpp server, LM Studio, NIM)."""

    def __init__(self, **kw):
        super().__init__("openai", **kw)
