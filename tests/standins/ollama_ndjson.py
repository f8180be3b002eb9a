"""Stand-in for the Ollama HTTP API (NDJSON streaming) on a loopback port.

No Ollama server can be installed here, so this follows the documented wire format
(ollama docs/api.md): POST /api/chat streams one JSON object per line and ends with a
`done: true` object carrying eval_count / eval_duration (nanoseconds); GET /api/tags lists
models; POST /api/pull streams progress; errors are `{"error": "..."}` with an HTTP status.
"""

from __future__ import annotations

import json
import time

from tests.standins._loopback import LoopbackServer, RecordedRequest


class OllamaStandIn(LoopbackServer):
    """Loopback stand-in of Ollama's /api/chat, /api/tags, /api/pull, /api/show, /api/version."""

    def __init__(self, *, models: tuple[str, ...] = ("phi3.5:latest",),
                 reply: tuple[str, ...] = ("Hello", " from", " Ollama", "."), token_delay: float = 0.0,
                 pullable: tuple[str, ...] = ("phi3:latest", "llava-phi3:latest"),
                 error_after: int | None = None):
        super().__init__()
        # send an {"error": ...} line after this many chunks (a runner crash mid-answer)
        self.error_after = error_after
        self.models = list(models)
        self.reply = reply
        self.token_delay = token_delay
        self.pullable = pullable

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """POST /api/chat requests received so far."""
        return [r for r in self.requests if r.path == "/api/chat"]

    def _known(self, name: str) -> bool:
        full = name if ":" in name else name + ":latest"
        return full in self.models

    def handle(self, h, req: RecordedRequest) -> None:
        if req.method == "GET" and req.path == "/api/tags":
            h.send_json(200, {"models": [
                {"name": m, "model": m, "modified_at": "2026-01-01T00:00:00Z", "size": 2_200_000_000,
                 "digest": "sha256:0", "details": {"format": "gguf", "family": "phi3",
                                                    "parameter_size": "3.8B",
                                                    "quantization_level": "Q4_0"}}
                for m in self.models]})
        elif req.method == "GET" and req.path == "/api/version":
            h.send_json(200, {"version": "0.12.0-standin"})
        elif req.method == "POST" and req.path == "/api/chat":
            self._chat(h, req.json or {})
        elif req.method == "POST" and req.path == "/api/pull":
            self._pull(h, req.json or {})
        elif req.method == "POST" and req.path == "/api/show":
            name = (req.json or {}).get("model", "")
            if not self._known(name):
                h.send_json(404, {"error": f"model '{name}' not found"})
            else:
                h.send_json(200, {"modelfile": "", "details": {"family": "phi3"},
                                  "model_info": {"phi3.context_length": 131072},
                                  "capabilities": ["completion"]})
        else:
            h.send_json(404, {"error": f"no route {req.path}"})

    def _chat(self, h, body: dict) -> None:
        model = body.get("model", "")
        if not self._known(model):
            h.send_json(404, {"error": f"model '{model}' not found, try pulling it first"})
            return
        opts = body.get("options") or {}
        pieces = list(self.reply)[: int(opts.get("num_predict") or 10_000)]
        h.start_chunked(200, "application/x-ndjson")
        started = time.perf_counter_ns()
        try:
            for i, piece in enumerate(pieces):
                if self.error_after is not None and i >= self.error_after:
                    h.chunk(b'{"error": "llama runner process has terminated"}\n')
                    h.end_chunked()
                    return
                if self.token_delay:
                    time.sleep(self.token_delay)
                h.chunk(json.dumps({"model": model, "created_at": "2026-01-01T00:00:00Z",
                                    "message": {"role": "assistant", "content": piece},
                                    "done": False}).encode() + b"\n")
            took = max(time.perf_counter_ns() - started, 1)
            h.chunk(json.dumps({
                "model": model, "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""}, "done": True,
                "done_reason": "length" if len(pieces) < len(self.reply) else "stop",
                "total_duration": took + 5_000_000, "load_duration": 1_000_000,
                "prompt_eval_count": 12, "prompt_eval_duration": 4_000_000,
                "eval_count": len(pieces), "eval_duration": 250_000_000}).encode() + b"\n")
            h.end_chunked()
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _pull(self, h, body: dict) -> None:
        name = body.get("model", "")
        full = name if ":" in name else name + ":latest"
        if full not in self.pullable and full not in self.models:
            h.send_json(500, {"error": "pull model manifest: file does not exist"})
            return
        h.start_chunked(200, "application/x-ndjson")
        h.chunk(b'{"status": "pulling manifest"}\n')
        for done in (0, 500, 1000):
            h.chunk(json.dumps({"status": "pulling sha256:abc", "digest": "sha256:abc",
                                "total": 1000, "completed": done}).encode() + b"\n")
        h.chunk(b'{"status": "success"}\n')
        h.end_chunked()
        if full not in self.models:
            self.models.append(full)
