"""Stand-in for an OpenAI-compatible chat server (SSE wire format) on a loopback port.

Used only for what a real server cannot do on demand: scripted faults (401, 429 with
Retry-After, daily-quota 429, 500 then success, slow first byte, a stream cut mid-way, an SSE
error event) and checking on the wire which headers a client sent. The happy path is tested
against a real llama.cpp server instead.

    with OpenAIStandIn() as srv:
        srv.enqueue(Reply.error(429, "slow down", headers={"Retry-After": "1"}), Reply.text("Hi"))
        ...  # point a client at srv.url ("http://127.0.0.1:PORT/v1")
        srv.chat_requests[0].headers["authorization"]

Wire format follows the OpenAI API reference: `data: {chat.completion.chunk}` events, a final
chunk with `choices: []` and `usage` when `stream_options.include_usage` is set, then
`data: [DONE]`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from tests.standins._loopback import LoopbackServer, RecordedRequest


@dataclass
class Reply:
    """One scripted answer to one chat request."""

    status: int = 200
    chunks: tuple[str, ...] = ("Hello", " from", " the", " stand-in", ".")
    finish_reason: str = "stop"
    # (prompt_tokens, completion_tokens); sent only when the client asks for usage
    usage: tuple[int, int] | None = None
    headers: dict = field(default_factory=dict)
    # the JSON body of an error response (status >= 400)
    body: dict | None = None
    # seconds before anything is sent (slow first byte)
    first_byte_delay: float = 0.0
    # seconds between chunks; None uses the server's default
    token_delay: float | None = None
    # drop the connection after this many content chunks (no [DONE], no finish_reason)
    cut_after: int | None = None
    # an SSE `error` event sent after the chunks instead of a normal end
    error_event: dict | None = None

    @classmethod
    def text(cls, text: str, **kw) -> Reply:
        """A streamed answer, one chunk per word (spaces kept)."""
        words = text.split(" ")
        chunks = tuple(w if i == 0 else " " + w for i, w in enumerate(words))
        return cls(chunks=chunks, **kw)

    @classmethod
    def error(cls, status: int, message: str, *, code: str | None = None, headers: dict | None = None,
              **kw) -> Reply:
        """An HTTP error with an OpenAI-style error body."""
        body = {"error": {"message": message, "type": "error", "code": code or str(status)}}
        return cls(status=status, body=body, headers=headers or {}, chunks=(), **kw)


class OpenAIStandIn(LoopbackServer):
    """Loopback stand-in speaking the OpenAI chat-completions SSE format, with scripted replies."""

    def __init__(self, *, models: tuple[str, ...] = ("standin-model",), token_delay: float = 0.0,
                 default: Reply | None = None, catalog: list[dict] | None = None,
                 answers=None):
        super().__init__()
        # scripted answers: a function of the request body (model, messages) returning a Reply, or
        # None to fall through to the queue; concurrent clients then get answers that do not
        # depend on arrival order
        self.answers = answers
        self.models = models
        self.token_delay = token_delay
        self.default = default or Reply()
        # GitHub Models' catalog shape for GET /catalog/models
        self.catalog = catalog
        self._script: deque[Reply] = deque()
        self._script_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL a client uses (ends in /v1)."""
        return self.root + "/v1"

    def enqueue(self, *replies: Reply) -> OpenAIStandIn:
        """Queue replies for the next chat requests, in order; then the default reply."""
        with self._script_lock:
            self._script.extend(replies)
        return self

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Chat completion requests received so far."""
        return [r for r in self.requests if r.path.split("?")[0].endswith("/chat/completions")]

    def _next(self, req: RecordedRequest | None = None) -> Reply:
        if self.answers is not None and req is not None:
            scripted = self.answers(req.json or {})
            if scripted is not None:
                return scripted
        with self._script_lock:
            return self._script.popleft() if self._script else self.default

    def handle(self, h, req: RecordedRequest) -> None:
        path = req.path.split("?")[0]
        if req.method == "GET" and path.endswith("/catalog/models") and self.catalog is not None:
            h.send_json(200, self.catalog)
        elif req.method == "GET" and path.endswith("/models"):
            h.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "stand-in"} for m in self.models]})
        elif req.method == "POST" and path.endswith("/chat/completions"):
            self._chat(h, req, self._next(req))
        else:
            h.send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _chat(self, h, req: RecordedRequest, reply: Reply) -> None:
        if reply.first_byte_delay:
            time.sleep(reply.first_byte_delay)
        if reply.status >= 400:
            h.send_json(reply.status, reply.body or {"error": {"message": "error"}}, reply.headers)
            return
        body = req.json or {}
        model = body.get("model", "standin-model")
        delay = self.token_delay if reply.token_delay is None else reply.token_delay
        usage = reply.usage or (11, len(reply.chunks))
        if not body.get("stream"):
            text = "".join(reply.chunks)
            h.send_json(200, {
                "id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                          "total_tokens": usage[0] + usage[1]}}, reply.headers)
            return
        h.start_chunked(200, "text/event-stream", reply.headers)

        def event(delta: dict, finish=None, choices=True, extra=None) -> None:
            obj = {"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                   "created": int(time.time()), "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
            obj.update(extra or {})
            h.chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

        try:
            event({"role": "assistant", "content": ""})
            for i, piece in enumerate(reply.chunks):
                if reply.cut_after is not None and i >= reply.cut_after:
                    h.cut()
                    return
                if delay:
                    time.sleep(delay)
                event({"content": piece})
            if reply.error_event is not None:
                h.chunk(b"event: error\ndata: " + json.dumps(reply.error_event).encode() + b"\n\n")
                h.end_chunked()
                return
            event({}, finish=reply.finish_reason)
            if (body.get("stream_options") or {}).get("include_usage"):
                event({}, choices=False, extra={"usage": {
                    "prompt_tokens": usage[0], "completion_tokens": usage[1],
                    "total_tokens": usage[0] + usage[1]}})
            h.chunk(b"data: [DONE]\n\n")
            h.end_chunked()
        except (BrokenPipeError, ConnectionResetError):
            # the client went away (it closed the stream early); that is its right
            h.close_connection = True
