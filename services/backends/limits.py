"""Limits every local backend shares: how long a request waits for a busy model, and what it is told."""

from __future__ import annotations

import threading

from services.errors import BackendTimeout

# how long a request waits for another session's generation on the same model
LOCK_WAIT_S = 300
BUSY_MESSAGE = "The model is busy with another answer; try again in a moment."


def acquire(lock: threading.Lock) -> None:
    """Take a model's generation lock, waiting at most LOCK_WAIT_S; BackendTimeout says it is busy."""
    if not lock.acquire(timeout=LOCK_WAIT_S):
        raise BackendTimeout(BUSY_MESSAGE)
