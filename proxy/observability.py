"""Feature: every finished request goes to the metrics and (unless disabled) the SQLite log.

Recorders run in this order: metrics (in-memory counters), then the log (a queue; a full queue
makes the request wait rather than lose its row). At shutdown the log store is closed after the
server stopped taking requests, which writes every queued row first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from proxy.logstore import LogSettings, open_store
from proxy.metrics import MetricsRecorder, metrics_handler
from proxy.realtime import SESSIONS

if TYPE_CHECKING:
    from proxy.chain import Layer
    from proxy.services import Services


def log_settings(services: Services) -> LogSettings:
    try:
        return msgspec.convert(services.settings.logs, LogSettings, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"settings [logs]: {e}") from None


async def observability(
    app: web.Application, services: Services, layers: list[Layer]
) -> AsyncIterator[None]:
    metrics = MetricsRecorder()
    services.recorders.append(metrics)
    services.extras["metrics"] = metrics
    if (sessions := app.get(SESSIONS)) is not None:
        metrics.gauge(
            "lockgate_realtime_sessions_open",
            "gauge",
            "Realtime (WebSocket) sessions open now.",
            lambda: len(sessions),
        )
    settings = log_settings(services)
    store = None
    if settings.enabled:
        store = await open_store(services.settings.data_dir, settings)
        services.recorders.append(store.recorder)
        services.extras["logs"] = store
        metrics.watch_log_store(store)
    try:
        yield
    finally:
        if store is not None:
            await store.close()


def add_metrics_route(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_handler)
