"""Which browser session a call serves, so state one session produces is never shown to another."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")

# the CLI, tests and background work with no page behind them share this one scope
PROCESS = "process"
# a ContextVar, like the typed keys in services/config.py: each Streamlit session runs its script in
# its own thread, and Compare's workers run in a copy of the page's context
_current: ContextVar[str] = ContextVar("phi_playground_scope", default=PROCESS)
# sessions remembered per store; the least recently used one is forgotten beyond this
MAX_SCOPES = 256


def current() -> str:
    """The id of the session this code runs for (PROCESS outside any page)."""
    return _current.get()


def use(scope_id: str | None) -> None:
    """Install a session's id for the current thread (the page calls it on every run)."""
    _current.set(scope_id or PROCESS)


@contextmanager
def scoped(scope_id: str) -> Iterator[None]:
    """Run a block of code as one session (tests and services that act for a session)."""
    token = _current.set(scope_id or PROCESS)
    try:
        yield
    finally:
        _current.reset(token)


class PerScope(Generic[T]):
    """One value per (session, key), made on first use; at most `limit` entries, least recent dropped."""

    def __init__(self, factory: Callable[[], T], limit: int = MAX_SCOPES * 4):
        self._factory = factory
        self._limit = limit
        self._items: OrderedDict[tuple, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable = None) -> T:
        """The current session's value for `key` (a fresh one the first time)."""
        k = (current(), key)
        with self._lock:
            if k in self._items:
                self._items.move_to_end(k)
                return self._items[k]
            value = self._items[k] = self._factory()
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
            return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
