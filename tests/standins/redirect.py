"""Stand-ins for a server that redirects elsewhere, and the elsewhere that records what arrives.

A provider's address (or a proxy in front of it) may answer with a 307 to another origin; a client
that follows it would carry the request there, and with it any key header the HTTP library does not
strip on its own (httpx drops Authorization only, not Azure's `api-key`).

    with Recorder() as elsewhere, Redirector(elsewhere.root) as srv:
        ...  # point a client at srv.root; elsewhere.requests must stay empty
"""

from __future__ import annotations

from tests.standins._loopback import LoopbackServer, RecordedRequest


class Recorder(LoopbackServer):
    """Answers every request with `{}` and keeps it (its headers are what a test checks)."""

    def handle(self, h, req: RecordedRequest) -> None:
        h.send_json(200, {})


class Redirector(LoopbackServer):
    """Answers every request with a redirect to the same path under another root."""

    def __init__(self, target_root: str, status: int = 307):
        super().__init__()
        self.target_root = target_root.rstrip("/")
        self.status = status

    def handle(self, h, req: RecordedRequest) -> None:
        h.send_response(self.status)
        h.send_header("Location", self.target_root + req.path)
        h.send_header("Content-Length", "0")
        h.end_headers()
