"""Parse an uploaded file once: an uploader keeps its file, and every widget click reruns the page.

The outcome of parsing (the value, or the error that refused the file) is kept per session, keyed by the
file's sha256 and what was done with it, in a small bounded map. Kept in the session, not in
st.cache_data, because a refusal must be kept too (st.cache_data caches only return values, so a
file that takes seconds to refuse would be parsed again on every rerun), and because nothing one
session uploaded is then shared with another.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import TypeVar

import streamlit as st

from services.errors import PlaygroundError

T = TypeVar("T")
# outcomes kept per session: the newest, as many as a page has uploaders and a few recent files
MAX_ENTRIES = 16
STATE_KEY = "upload_parse_cache"


def digest(data: bytes) -> str:
    """The file's sha256, the key its outcome is kept under."""
    return hashlib.sha256(data).hexdigest()


def parse_once(kind: str, data: bytes, parse: Callable[[bytes], T], *,
               store: MutableMapping | None = None) -> T:
    """parse(data), or the value (or refusal) kept from the first time this session parsed the same bytes.

    kind names what was done with the bytes (a prompt file, test data, an image at some size): the same
    file read two ways is kept twice. A refusal (a PlaygroundError) is raised again, the same error.
    """
    cache = _cache(store)
    key = (kind, digest(data))
    if key not in cache:
        try:
            cache[key] = ("ok", parse(data))
        except PlaygroundError as exc:
            cache[key] = ("error", exc)
        while len(cache) > MAX_ENTRIES:
            cache.popitem(last=False)
    cache.move_to_end(key)
    status, value = cache[key]
    if status == "error":
        raise value.with_traceback(None)  # the same error again, without the frames of earlier raises
    return value


def _cache(store: MutableMapping | None) -> OrderedDict:
    store = st.session_state if store is None else store
    if STATE_KEY not in store:
        store[STATE_KEY] = OrderedDict()
    return store[STATE_KEY]
