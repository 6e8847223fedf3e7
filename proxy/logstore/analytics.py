"""Aggregates over the ``requests`` table: counts, error rate, latency percentiles, tokens,
cost, cache hits and feedback, for all rows that match a filter, optionally grouped.

Percentiles are nearest-rank, computed inside SQLite with window functions (rank >= p·n),
so no latency list crosses into Python. An error is a status >= 400 or an incomplete answer.
Realtime sessions (status 101) count as requests but stay out of the latency percentiles: a
session's length is not a request's latency.
Feedback is joined on trace id: each feedback row counts once per group whose requests carry
that trace id.
"""

from __future__ import annotations

from typing import Any

from proxy.logstore.models import Analytics, FeedbackSummary, GroupStats
from proxy.logstore.query import LogFilter, QueryError, meta_expr

GROUPS = ("provider", "model", "status", "cache_status", "endpoint")
_HIT = "('HIT', 'SEMANTIC HIT')"


def group_expr(group_by: str | None) -> tuple[str, list[Any]]:
    if not group_by:
        return "NULL", []
    if group_by in GROUPS:
        return f"CAST({group_by} AS TEXT)", []
    if group_by.startswith("metadata."):
        try:
            col, args = meta_expr(group_by[len("metadata.") :])
        except QueryError as e:
            raise QueryError(f"group_by: {e}") from None
        return col, args
    raise QueryError(f"group_by: expected one of {', '.join(GROUPS)} or metadata.<key>")


def analytics_sql(f: LogFilter, group_by: str | None) -> tuple[str, list[Any], str, list[Any]]:
    """Two statements: per-group request stats, and per-group feedback stats."""
    gexpr, gargs = group_expr(group_by)
    where, wargs = f.where()
    base = f"SELECT {gexpr} AS g, * FROM requests{where}"
    stats = f"""
        WITH f AS ({base}),
        r AS (SELECT g, latency_ms,
                     ROW_NUMBER() OVER (PARTITION BY g ORDER BY latency_ms) AS rn,
                     COUNT(*) OVER (PARTITION BY g) AS n FROM f WHERE status != 101),
        p AS (SELECT g,
                     MIN(CASE WHEN rn >= 0.50 * n THEN latency_ms END) AS p50,
                     MIN(CASE WHEN rn >= 0.90 * n THEN latency_ms END) AS p90,
                     MIN(CASE WHEN rn >= 0.99 * n THEN latency_ms END) AS p99
              FROM r GROUP BY g)
        SELECT f.g, COUNT(*),
               SUM(CASE WHEN f.status >= 400 OR f.complete = 0 THEN 1 ELSE 0 END),
               p.p50, p.p90, p.p99,
               COALESCE(SUM(f.prompt_tokens), 0), COALESCE(SUM(f.completion_tokens), 0),
               COALESCE(SUM(f.total_tokens), 0), COALESCE(SUM(f.cost), 0.0),
               SUM(CASE WHEN f.cache_status IN {_HIT} THEN 1 ELSE 0 END)
        FROM f LEFT JOIN p ON p.g IS f.g
        GROUP BY f.g ORDER BY COUNT(*) DESC"""
    feedback = f"""
        WITH t AS (SELECT DISTINCT g, trace_id FROM ({base}))
        SELECT t.g, COUNT(*), AVG(fb.value),
               SUM(fb.value * fb.weight) / NULLIF(SUM(fb.weight), 0),
               SUM(CASE WHEN fb.value > 0 THEN 1 ELSE 0 END),
               SUM(CASE WHEN fb.value < 0 THEN 1 ELSE 0 END)
        FROM t JOIN feedback fb ON fb.trace_id = t.trace_id
        GROUP BY t.g"""
    args = gargs + wargs
    return stats, args, feedback, args


def totals_sql(f: LogFilter) -> tuple[str, list[Any], str, list[Any]]:
    return analytics_sql(f, None)


def build(
    group_by: str | None,
    stat_rows: list[tuple],
    fb_rows: list[tuple],
    total_rows: list[tuple],
    total_fb: list[tuple],
) -> Analytics:
    fb = {r[0]: _fb(r) for r in fb_rows}
    groups = [_group(r, fb.get(r[0], FeedbackSummary())) for r in stat_rows]
    if total_rows:
        totals = _group(total_rows[0], _fb(total_fb[0]) if total_fb else FeedbackSummary())
    else:
        totals = _group((None, 0, 0, None, None, None, 0, 0, 0, 0.0, 0), FeedbackSummary())
    return Analytics(group_by=group_by, totals=totals, groups=groups if group_by else [])


def _fb(r: tuple) -> FeedbackSummary:
    return FeedbackSummary(
        count=r[1], avg_value=r[2], weighted_avg_value=r[3], positive=r[4] or 0, negative=r[5] or 0
    )


def _group(r: tuple, fb: FeedbackSummary) -> GroupStats:
    n, errors = r[1], r[2] or 0
    return GroupStats(
        key=r[0],
        requests=n,
        errors=errors,
        error_rate=(errors / n) if n else 0.0,
        latency_p50_ms=r[3],
        latency_p90_ms=r[4],
        latency_p99_ms=r[5],
        prompt_tokens=r[6],
        completion_tokens=r[7],
        total_tokens=r[8],
        cost=r[9],
        cache_hits=r[10] or 0,
        feedback=fb,
    )
