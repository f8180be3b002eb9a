"""Measured memory read bandwidth, the denominator of the tokens/s bound for a memory-bound decoder."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor


def read_bandwidth_gbs(size_mb: int = 256, repeats: int = 5, threads: int | None = None) -> float:
    """Best GB/s over a few passes of every core summing its slice of a buffer far larger than cache."""
    import numpy as np

    threads = threads or len(os.sched_getaffinity(0))
    data = np.ones(size_mb * 1024 * 1024 // 8, dtype=np.float64)
    parts = np.array_split(data, threads)
    best = 0.0
    # numpy releases the GIL inside the reduction, so the slices are read in parallel
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            started = time.perf_counter()
            list(pool.map(np.sum, parts))
            elapsed = time.perf_counter() - started
            best = max(best, data.nbytes / elapsed / 1e9)
    return round(best, 2)


def bound_tokens_per_s(weight_bytes_per_token: float, gbs: float) -> float:
    """Decode tokens/s if every token only had to read its weights once at this bandwidth."""
    return gbs * 1e9 / weight_bytes_per_token if weight_bytes_per_token > 0 else float("nan")
