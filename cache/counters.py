"""What the cache counts about itself, for `/v1/cache/stats` and the bench."""

from __future__ import annotations

from collections import deque

import msgspec


class Counters(msgspec.Struct, kw_only=True):
    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    semantic_misses: int = 0
    refreshes: int = 0
    disabled: int = 0
    stored: int = 0
    not_stored: int = 0
    embed_errors: int = 0
    embed_cache_hits: int = 0
    synced_vectors: int = 0
    """Vectors added to this worker's index from entries other workers stored."""
    index_rebuilds: int = 0


def percentiles(samples: deque[float]) -> dict[str, float | int | None]:
    """p50/p99 of the last samples (ms), for the stats route and the bench."""
    s = sorted(samples)
    if not s:
        return {"n": 0, "p50": None, "p99": None}
    return {
        "n": len(s),
        "p50": round(s[len(s) // 2], 3),
        "p99": round(s[min(len(s) - 1, int(len(s) * 0.99))], 3),
    }
