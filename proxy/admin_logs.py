"""HTTP API over the log store: logs, export, analytics, feedback.

    GET  /v1/logs                 filters, newest first, ``limit`` + ``cursor``
    GET  /v1/logs/export          ``format=jsonl|csv``, streamed page by page
    GET  /v1/logs/{id}            one request with its attempts and feedback
    GET  /v1/analytics            totals (+ ``group_by``) with latency percentiles and feedback
    POST /v1/feedback             one object or a list (portkey-ai ``feedback.create`` /
                                  ``bulk_create``)
    PUT  /v1/feedback/{id}        update (POST accepted too, as one of Portkey's samples does)
    GET  /v1/feedback?trace_id=   feedback of a trace

Filters: ``trace_id provider model status (429 | 5xx) cache_status since until`` and any
``metadata.<key>=<value>``. Register these before the gateway's catch-all ``/v1/*`` proxy
route, and behind its admin auth: logs hold request bodies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from proxy.logstore import LogSettings, LogStore, open_store
from proxy.logstore.export import csv_lines, jsonl_lines
from proxy.logstore.feedback import FeedbackError, parse_create, parse_update
from proxy.logstore.models import Failure, FeedbackList, FeedbackResponse
from proxy.logstore.query import QueryError, filter_from_params, parse_limit

STORE = web.AppKey("lockgate_log_store", LogStore)
_encode = msgspec.json.encode
_JSON = "application/json"


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(value), status=status, content_type=_JSON)


def _fail(status: int, message: str) -> web.Response:
    return _json(Failure(message=message), status)


def _store(request: web.Request) -> LogStore:
    """The gateway's store (``services.extras["logs"]``), or one set with `add_routes`."""
    from proxy.handler import SERVICES

    store = request.config_dict.get(STORE)
    if store is None:
        services = request.config_dict.get(SERVICES)
        store = services.extras.get("logs") if services is not None else None
    if store is None:
        raise web.HTTPServiceUnavailable(
            body=_encode(Failure(message="the request log is disabled (logs.enabled = false)")),
            content_type=_JSON,
        )
    return store


async def list_logs(request: web.Request) -> web.Response:
    q = request.query
    try:
        f = filter_from_params(q)
        limit = parse_limit(q.get("limit"))
        page = await _store(request).list(f, limit=limit, cursor=q.get("cursor") or None)
    except QueryError as e:
        return _fail(400, str(e))
    return _json(page)


async def get_log(request: web.Request) -> web.Response:
    entry = await _store(request).get(request.match_info["id"])
    if entry is None:
        return _fail(404, f"id: no log entry '{request.match_info['id'][:64]}'")
    return _json(entry)


async def export_logs(request: web.Request) -> web.StreamResponse:
    q = request.query
    fmt = q.get("format", "jsonl")
    if fmt not in ("jsonl", "csv"):
        return _fail(400, "format: expected jsonl or csv")
    try:
        f = filter_from_params(q)
    except QueryError as e:
        return _fail(400, str(e))
    bodies = q.get("bodies", "") in ("1", "true") and fmt == "jsonl"
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="lockgate-logs.{fmt}"',
        }
    )
    await resp.prepare(request)
    if fmt == "csv":
        await resp.write(csv_lines(None))
    async for page in _store(request).pages(f, bodies=bodies):
        await resp.write(jsonl_lines(page) if fmt == "jsonl" else csv_lines(page))
    await resp.write_eof()
    return resp


async def analytics(request: web.Request) -> web.Response:
    q = request.query
    try:
        f = filter_from_params(q)
        result = await _store(request).analytics(f, q.get("group_by") or None)
    except QueryError as e:
        return _fail(400, str(e))
    return _json(result)


async def create_feedback(request: web.Request) -> web.Response:
    try:
        items = parse_create(await request.read())
    except FeedbackError as e:
        return _fail(400, str(e))
    ids = await _store(request).add_feedback(items)
    n = len(ids)
    return _json(
        FeedbackResponse(message=f"{n} feedback{'s' if n != 1 else ''} recorded", feedback_ids=ids)
    )


async def update_feedback(request: web.Request) -> web.Response:
    fid = request.match_info["id"]
    try:
        upd = parse_update(await request.read())
    except FeedbackError as e:
        return _fail(400, str(e))
    if not await _store(request).update_feedback(fid, upd):
        return _fail(404, f"id: no feedback '{fid[:64]}'")
    return _json(FeedbackResponse(message="feedback updated", feedback_ids=[fid]))


async def list_feedback(request: web.Request) -> web.Response:
    trace_id = request.query.get("trace_id")
    if not trace_id:
        return _fail(400, "trace_id: required")
    return _json(FeedbackList(data=await _store(request).feedback_for(trace_id)))


def log_store_ctx(
    data_dir: str | Path, settings: LogSettings | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An ``app.cleanup_ctx`` entry: opens the store at start-up (``app[STORE]``), and at
    shutdown closes it, which writes every queued row first."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        store = await open_store(data_dir, settings)
        app[STORE] = store
        try:
            yield
        finally:
            await store.close()

    return ctx


def add_routes(app: web.Application, store: LogStore | None = None, prefix: str = "/v1") -> None:
    """Register the routes (before the catch-all ``/v1/*`` route). The store is looked up per
    request in ``app[STORE]``: pass it here, or let `log_store_ctx` set it at start-up."""
    if store is not None:
        app[STORE] = store
    r = app.router
    r.add_get(f"{prefix}/logs", list_logs)
    r.add_get(f"{prefix}/logs/export", export_logs)
    r.add_get(f"{prefix}/logs/{{id}}", get_log)
    r.add_get(f"{prefix}/analytics", analytics)
    r.add_post(f"{prefix}/feedback", create_feedback)
    r.add_get(f"{prefix}/feedback", list_feedback)
    r.add_put(f"{prefix}/feedback/{{id}}", update_feedback)
    r.add_post(f"{prefix}/feedback/{{id}}", update_feedback)
