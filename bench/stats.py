"""Percentiles, the same way for every tool: the load client computes them from its samples, and
wrk's ``done()`` hook is asked for the same `CURVE` points."""

from __future__ import annotations

import math

CURVE = (1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9)
"""Percentiles kept for the latency plot (50 and 99 are the table's)."""


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = min(len(ordered), max(1, math.ceil(p / 100.0 * len(ordered))))
    return ordered[rank - 1]
