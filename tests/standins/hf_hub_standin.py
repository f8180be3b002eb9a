"""A loopback stand-in of the Hugging Face hub's file API, for tests (set HF_ENDPOINT to its url).

It answers exactly the calls huggingface_hub 2.4 makes for snapshot_download / hf_hub_download
(read from huggingface_hub/_snapshot_download.py, hf_api.py and file_download.py):
  GET  /api/models/{repo}/revision/{rev}              repo_info -> {"id", "sha", "siblings"}
  GET  /api/models/{repo}/tree/{rev}?recursive=...    list_repo_tree -> [{"type","path","size","oid"}]
  HEAD /{repo}/resolve/{rev}/{path}                   metadata: X-Repo-Commit, ETag, Content-Length
  GET  /{repo}/resolve/{rev}/{path}                   the bytes; honours `Range: bytes=N-` with 206
Unknown repos get 404 with `X-Error-Code: RepoNotFound`, unknown files `EntryNotFound`, as the hub does.
Faults on demand: `cut_once[path] = n` closes the connection after n bytes of the first full GET of
that file (the Content-Length promised the whole file), and `bytes_per_s` throttles file bodies.
No Xet headers are sent, so the client uses plain HTTP downloads.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Seen:
    """One request the stand-in received."""

    method: str
    path: str
    range: str | None


class HubStandIn:
    """Serves repos given as {repo_id: {path_in_repo: bytes}} on 127.0.0.1, on a free port."""

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos = repos
        self.cut_once: dict[str, int] = {}
        self.bytes_per_s: float | None = None
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def file_gets(self, name: str = "") -> list[Seen]:
        """GETs of file contents (optionally of paths ending with name)."""
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(name)]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client killed mid-download (a cancelled pull) is expected here, not worth a traceback
        pass


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _handler(hub: HubStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _json(self, status: int, obj, error_code: str | None = None) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if error_code:
                self.send_header("X-Error-Code", error_code)
                self.send_header("X-Error-Message", obj.get("error", ""))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _record(self) -> None:
            with hub._lock:
                hub.requests.append(Seen(self.command, self.path, self.headers.get("Range")))

        def do_HEAD(self):
            self._record()
            self._file(head=True)

        def do_GET(self):
            self._record()
            path = urlparse(self.path).path
            if path.startswith("/api/models/"):
                return self._api(unquote(path[len("/api/models/"):]))
            self._file(head=False)

        def _repo_and_rest(self, text: str, marker: str):
            for repo in hub.repos:
                if text.startswith(repo + marker):
                    return repo, text[len(repo + marker):]
            return None, None

        def _api(self, rest: str):
            repo, tail = self._repo_and_rest(rest, "/revision/")
            if repo is not None:
                files = hub.repos[repo]
                return self._json(200, {"id": repo, "sha": COMMIT, "private": False,
                                        "siblings": [{"rfilename": p} for p in sorted(files)]})
            repo, tail = self._repo_and_rest(rest, "/tree/")
            if repo is not None:
                files = hub.repos[repo]
                dirs = sorted({p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)})
                entries = [{"type": "directory", "path": d, "oid": _etag(d.encode())[:40], "size": 0}
                           for d in dirs]
                entries += [{"type": "file", "path": p, "size": len(b), "oid": _etag(b)[:40]}
                            for p, b in sorted(files.items())]
                return self._json(200, entries)
            return self._json(404, {"error": "Repository not found"}, "RepoNotFound")

        def _file(self, head: bool):
            m = re.match(r"^/(.+?/.+?)/resolve/([^/]+)/(.+)$", urlparse(self.path).path)
            repo = unquote(m.group(1)) if m else None
            if repo not in hub.repos:
                return self._json(404, {"error": "Repository not found"}, "RepoNotFound")
            name = unquote(m.group(3))
            data = hub.repos[repo].get(name)
            if data is None:
                return self._json(404, {"error": "Entry not found"}, "EntryNotFound")
            start = 0
            rng = self.headers.get("Range")
            if rng and not head:
                start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{_etag(data)}"')
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if head:
                return
            with hub._lock:
                cut = hub.cut_once.pop(name, None) if not start else None
            if cut is not None:
                self._send(body[:cut])
                # promised len(body) bytes, sent fewer: the client sees a dropped connection
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(body)

        def _send(self, body: bytes) -> None:
            step = 16384
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                if hub.bytes_per_s:
                    time.sleep(step / hub.bytes_per_s)

    return Handler
