"""Prometheus metrics, in memory: a `Recorder` that counts, and ``GET /metrics`` that prints.

Recording is a few dict updates per request (labels stay raw tuples; escaping happens only when
scraped). Counts are per process: with ``--workers N`` each worker keeps its own, and a scrape
reaches whichever worker accepts it (the ``worker`` label is the pid, so series never collide).

    lockgate_requests_total{provider,status}
    lockgate_request_duration_seconds{provider}      histogram, arrival → last byte (not sessions)
    lockgate_upstream_attempts_total{provider}
    lockgate_upstream_errors_total{provider,code}    code: upstream 408, 429, 5xx, or "network"
    lockgate_retries_total{provider}
    lockgate_cache_requests_total{mode,status}       mode: simple | semantic
    lockgate_cache_hits_total{mode}
    lockgate_streams_incomplete_total{provider}
    lockgate_realtime_sessions_total{provider} / lockgate_realtime_session_seconds_total{provider}
    lockgate_realtime_sessions_open                  (sessions are requests with status 101 too)
    lockgate_log_queue_depth / lockgate_log_rows_written_total / lockgate_log_write_failures_total /
    lockgate_log_batches_total / lockgate_log_urgent_batches_total
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aiohttp import web

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_HITS = frozenset({"HIT", "SEMANTIC HIT"})
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds


class MetricsRecorder:
    """The gateway's `Recorder` for metrics; ``render()`` is the scrape body."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, _Histogram] = {}
        self.attempts: defaultdict[str, int] = defaultdict(int)
        self.upstream_errors: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.retries: defaultdict[str, int] = defaultdict(int)
        self.cache: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.cache_hits: defaultdict[str, int] = defaultdict(int)
        self.incomplete: defaultdict[str, int] = defaultdict(int)
        self.sessions: defaultdict[str, int] = defaultdict(int)
        self.session_seconds: defaultdict[str, float] = defaultdict(float)
        self._gauges: list[tuple[str, str, str, Callable[[], float]]] = []
        self._worker = str(os.getpid())

    def record(self, call: Any, reply: Any, outcome: Any) -> None:
        provider = (reply.provider if reply is not None else "") or (
            getattr(call.config, "provider", None) or "none"
        )
        self.requests[provider, outcome.status] += 1
        if outcome.status == 101:  # a realtime session: its length is not a request's latency
            self.sessions[provider] += 1
            self.session_seconds[provider] += outcome.latency_ms / 1000.0
        else:
            hist = self.latency.get(provider)
            if hist is None:
                hist = self.latency[provider] = _Histogram()
            hist.observe(outcome.latency_ms / 1000.0)
        for a in call.attempts:
            self.attempts[a.provider] += 1
            if a.error is not None and not a.status:
                self.upstream_errors[a.provider, "network"] += 1
            elif a.status >= 500 or a.status in (408, 429):
                self.upstream_errors[a.provider, str(a.status)] += 1
        if reply is not None:
            if reply.retries:
                self.retries[provider] += reply.retries
            if call.cache is not None:
                self.cache[call.cache.mode, reply.cache_status] += 1
                if reply.cache_status in _HITS:
                    self.cache_hits[call.cache.mode] += 1
        if outcome.streamed and not outcome.complete:
            self.incomplete[provider] += 1

    def gauge(self, name: str, kind: str, help_text: str, read: Callable[[], float]) -> None:
        """Add a value read at scrape time (queue depth, rows written …)."""
        self._gauges.append((name, kind, help_text, read))

    def watch_log_store(self, store: Any) -> None:
        self.gauge(
            "lockgate_log_queue_depth",
            "gauge",
            "Log rows waiting for the writer.",
            lambda: store.queue_depth,
        )
        self.gauge(
            "lockgate_log_rows_unwritten",
            "gauge",
            "Log rows recorded but not yet committed (queued or being written).",
            lambda: store.writer.unwritten,
        )
        self.gauge(
            "lockgate_log_rows_written_total",
            "counter",
            "Log rows written to SQLite.",
            lambda: store.writer.written,
        )
        self.gauge(
            "lockgate_log_write_failures_total",
            "counter",
            "Failed log batch writes (retried) and rejected rows.",
            lambda: store.writer.failures,
        )
        self.gauge(
            "lockgate_log_batches_total",
            "counter",
            "Log write transactions (rows written / batches = the writer's batch size).",
            lambda: store.writer.batches,
        )
        self.gauge(
            "lockgate_log_urgent_batches_total",
            "counter",
            "Log batches written at normal priority (the writer was busy, flushing or closing)"
            " rather than on the niced writer thread.",
            lambda: store.writer.urgent_batches,
        )

    def render(self) -> str:
        w = self._worker
        out: list[str] = []

        def family(
            name: str, kind: str, help_text: str, series: dict[Any, Any], labels: tuple[str, ...]
        ) -> None:
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
            for key, value in sorted(series.items(), key=lambda kv: str(kv[0])):
                vals = key if isinstance(key, tuple) else (key,)
                out.append(f"{name}{{{_labels(labels, vals, w)}}} {value}\n")

        family(
            "lockgate_requests_total",
            "counter",
            "Finished requests.",
            self.requests,
            ("provider", "status"),
        )
        name = "lockgate_request_duration_seconds"
        out.append(f"# HELP {name} Request arrival to last byte.\n# TYPE {name} histogram\n")
        for provider, h in sorted(self.latency.items()):
            base = _labels(("provider",), (provider,), w)
            running = 0
            for bound, n in zip((*BUCKETS, "+Inf"), h.counts, strict=True):
                running += n
                out.append(f'{name}_bucket{{{base},le="{bound}"}} {running}\n')
            out.append(f"{name}_sum{{{base}}} {h.sum}\n{name}_count{{{base}}} {running}\n")
        family(
            "lockgate_upstream_attempts_total",
            "counter",
            "Upstream calls.",
            self.attempts,
            ("provider",),
        )
        family(
            "lockgate_upstream_errors_total",
            "counter",
            "Upstream attempts that failed (408, 429, 5xx, or no answer).",
            self.upstream_errors,
            ("provider", "code"),
        )
        family("lockgate_retries_total", "counter", "Retries made.", self.retries, ("provider",))
        family(
            "lockgate_cache_requests_total",
            "counter",
            "Requests with a cache configured.",
            self.cache,
            ("mode", "status"),
        )
        family("lockgate_cache_hits_total", "counter", "Cache hits.", self.cache_hits, ("mode",))
        family(
            "lockgate_streams_incomplete_total",
            "counter",
            "Streams cut before the end.",
            self.incomplete,
            ("provider",),
        )
        family(
            "lockgate_realtime_sessions_total",
            "counter",
            "Realtime (WebSocket) sessions ended.",
            self.sessions,
            ("provider",),
        )
        family(
            "lockgate_realtime_session_seconds_total",
            "counter",
            "Summed length of the realtime sessions ended.",
            self.session_seconds,
            ("provider",),
        )
        for gname, kind, help_text, read in self._gauges:
            out.append(
                f"# HELP {gname} {help_text}\n# TYPE {gname} {kind}\n"
                f'{gname}{{worker="{w}"}} {read()}\n'
            )
        return "".join(out)


def _esc(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[Any, ...], worker: str) -> str:
    pairs = [f'{n}="{_esc(v)}"' for n, v in zip(names, values, strict=True)]
    pairs.append(f'worker="{worker}"')
    return ",".join(pairs)


METRICS = web.AppKey("lockgate_metrics", MetricsRecorder)


async def metrics_handler(request: web.Request) -> web.Response:
    from proxy.handler import SERVICES

    metrics = request.config_dict.get(METRICS)
    if metrics is None:
        metrics = request.config_dict[SERVICES].extras["metrics"]
    body = metrics.render().encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_metrics_route(
    app: web.Application, metrics: MetricsRecorder, path: str = "/metrics"
) -> None:
    app[METRICS] = metrics
    app.router.add_get(path, metrics_handler)
