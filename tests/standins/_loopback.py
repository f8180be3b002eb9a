"""Shared plumbing for the loopback stand-ins: a threaded HTTP/1.1 server that records requests."""

from __future__ import annotations

import json
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    """One request as it arrived on the wire."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    raw_headers: str = ""

    @property
    def json(self):
        """The body parsed as JSON, or None."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def wire_text(self) -> str:
        """Everything the client sent (request line, headers, body), for canary scans."""
        return f"{self.method} {self.path}\n{self.raw_headers}\n{self.body.decode('utf-8', 'replace')}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner, *args, **kwargs):
        self.owner = owner
        super().__init__(*args, **kwargs)

    def handle_error(self, request, client_address):
        # a client hanging up mid-answer (a stopped stream, a timeout a test provokes) is part of the tests;
        # socketserver would print its traceback to stderr, where a later test reading stderr finds it
        with self.owner._lock:
            self.owner.handler_errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def setup(self):
        super().setup()
        with self.server.owner._lock:
            self.server.owner._open += 1

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.owner._lock:
                self.server.owner._open -= 1

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              body, str(self.headers))
        with self.server.owner._lock:
            self.server.owner.requests.append(rec)
        return rec

    def do_GET(self):
        self.server.owner.handle(self, self._record())

    def do_POST(self):
        self.server.owner.handle(self, self._record())

    def do_DELETE(self):
        self.server.owner.handle(self, self._record())

    # helpers the stand-ins use to answer
    def send_json(self, status: int, obj, headers: dict | None = None) -> None:
        """A whole JSON response with a Content-Length."""
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_chunked(self, status: int, content_type: str, headers: dict | None = None) -> None:
        """Start a streamed (chunked) response, as real streaming servers do."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        """Send one chunk of a chunked response."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self) -> None:
        """Finish a chunked response properly."""
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self) -> None:
        """Drop the connection mid-response (a server crash or a network cut)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class LoopbackServer:
    """Start on a free 127.0.0.1 port in a thread; stop on exit; record every request."""

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        # exceptions raised while answering (most often a client that closed the connection), kept, not printed
        self.handler_errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._open = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # subclasses answer here
    def handle(self, h: _Handler, req: RecordedRequest) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the stand-in first"
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Client connections the server still holds open."""
        with self._lock:
            return self._open

    def start(self):
        self._httpd = _Server(self, ("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wire_text(self) -> str:
        """Every recorded request as text, for scanning for keys."""
        with self._lock:
            return "\n".join(r.wire_text() for r in self.requests)


def free_port() -> int:
    """A loopback port nobody listens on right now (for 'connection refused' tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
