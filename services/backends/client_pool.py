"""SDK clients reused per provider, address and key, closed (with their connection pools) once idle.

Building an OpenAI client builds an HTTP client and its TLS context (tens of ms of CPU, under the
GIL): two Compare columns each building one at once delayed both first tokens. A client shared by
the requests in flight keeps that to once per provider, address and key; a timer closes it when no
request has used it for IDLE_S, so no socket outlives its last request by more than that.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Hashable, Iterator

IDLE_S = 1.0
# a bound: at most this many idle clients are kept (the oldest idle one is closed first)
MAX_CLIENTS = 16


class ClientPool:
    """Clients by key, each with a count of requests using it and when it was last released."""

    def __init__(self, idle_s: float = IDLE_S, max_clients: int = MAX_CLIENTS):
        self.idle_s = idle_s
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._entries: dict[Hashable, list] = {}  # key -> [client, users, last released]
        self._timer: threading.Timer | None = None

    def acquire(self, key: Hashable, make: Callable[[], object]) -> object:
        """The client for `key`, made on first use; every acquire needs one release(key)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [make(), 0, 0.0]
            entry[1] += 1
            return entry[0]

    def release(self, key: Hashable) -> None:
        """One request is done with the client; it is closed later if nothing uses it meanwhile."""
        with self._lock:
            entry = self._entries[key]
            entry[1] -= 1
            entry[2] = time.monotonic()
            self._trim_locked()
            self._arm_locked()

    @contextmanager
    def lease(self, key: Hashable, make: Callable[[], object]) -> Iterator[object]:
        """acquire/release around a block."""
        client = self.acquire(key, make)
        try:
            yield client
        finally:
            self.release(key)

    def _trim_locked(self) -> None:
        idle = sorted((e[2], k) for k, e in self._entries.items() if e[1] == 0)
        for _, key in idle[: max(0, len(self._entries) - self.max_clients)]:
            self._entries.pop(key)[0].close()

    def _arm_locked(self) -> None:
        if self._timer is None and self._entries:
            self._timer = threading.Timer(self.idle_s, self._reap)
            self._timer.daemon = True
            self._timer.name = "client-pool-reaper"
            self._timer.start()

    def _reap(self) -> None:
        """Close every client idle for IDLE_S; re-arm while any client is still kept."""
        now = time.monotonic()
        closing = []
        with self._lock:
            self._timer = None
            for key, entry in list(self._entries.items()):
                if entry[1] == 0 and now - entry[2] >= self.idle_s:
                    closing.append(self._entries.pop(key)[0])
            self._arm_locked()
        for client in closing:
            client.close()

    def close_all(self) -> None:
        """Close every client not in use now."""
        with self._lock:
            closing = [self._entries.pop(k)[0] for k, e in list(self._entries.items()) if e[1] == 0]
        for client in closing:
            client.close()

    def __len__(self) -> int:
        return len(self._entries)
