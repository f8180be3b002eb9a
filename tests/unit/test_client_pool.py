"""Shared SDK clients: one per key while in use, closed once idle, never closed under a request."""

import threading
import time

from services.backends.client_pool import ClientPool


class Closable:
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


def wait_until(check, limit=5.0):
    deadline = time.monotonic() + limit
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def test_same_key_shares_one_client_and_closes_when_idle():
    pool = ClientPool(idle_s=0.1)
    made = []
    make = lambda: made.append(Closable()) or made[-1]  # noqa: E731
    a = pool.acquire(("openai", "http://x", "digest1"), make)
    b = pool.acquire(("openai", "http://x", "digest1"), make)
    c = pool.acquire(("openai", "http://x", "digest2"), make)  # another key: its own client
    assert a is b and a is not c and len(made) == 2
    pool.release(("openai", "http://x", "digest2"))
    assert wait_until(lambda: c.closed)
    time.sleep(0.3)
    assert not a.closed  # still in use by two requests
    pool.release(("openai", "http://x", "digest1"))
    pool.release(("openai", "http://x", "digest1"))
    assert wait_until(lambda: a.closed) and len(pool) == 0
    # the reaper thread ends once nothing is kept
    assert wait_until(lambda: not any(t.name == "client-pool-reaper" and t.is_alive() for t in threading.enumerate()))


def test_idle_clients_are_bounded():
    pool = ClientPool(idle_s=60, max_clients=2)
    clients = []
    for i in range(4):
        with pool.lease(i, Closable) as c:
            clients.append(c)
    assert len(pool) == 2 and [c.closed for c in clients] == [True, True, False, False]
    pool.close_all()
    assert len(pool) == 0 and all(c.closed for c in clients)
