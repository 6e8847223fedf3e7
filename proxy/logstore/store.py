"""The log store: open it at start-up, hand its recorder to the gateway, close it at shutdown.

SQLite connections (WAL): the log writer's (request rows, batched, on a thread of its own; a
second one of normal priority beside a niced one: see ``sinks``), and one for the API and
CLI-style reads plus feedback writes, which are few and must be committed before the 200
goes out. Migrations run once, in a thread, before any connection opens.

On the request path, recording is `rows.capture` (a flat tuple of the row's raw values) and
one append to the writer's queue (or an await when it is full); the row itself is built
later, in the log writer (see ``writer.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from proxy.logstore import analytics as an
from proxy.logstore import feedback as fb
from proxy.logstore.models import (
    Analytics,
    FeedbackEntry,
    FeedbackIn,
    FeedbackUpdate,
    LogEntry,
    LogPage,
)
from proxy.logstore.prices import Prices
from proxy.logstore.query import LogFilter, entry, list_sql
from proxy.logstore.rows import RowBuilder, capture
from proxy.logstore.schema import REQUEST_COLUMNS, migrate, open_sync, parse_id
from proxy.logstore.settings import LogSettings
from proxy.logstore.sinks import ThreadSink
from proxy.logstore.writer import LogWriter
from proxy.sqlite import open_sqlite

log = logging.getLogger("lockgate.logstore")


class LogRecorder:
    """The gateway's `Recorder` for logs: queues the finished request (awaits when full)."""

    def __init__(self, writer: LogWriter) -> None:
        self._offer = writer.offer
        self._put = writer.put

    def record(self, call: Any, reply: Any, outcome: Any) -> Awaitable[None] | None:
        """Queue the request's row; only when the queue is full, the awaitable that waits for
        room (the caller awaits it: push back, nothing dropped)."""
        try:
            item = capture(call, reply, outcome)
        except Exception:  # a bug in logging must not break the gateway's answer
            log.exception("could not capture the log row for trace %s", call.trace_id)
            return None
        if self._offer(item):
            return None
        return self._put(item)


def _prepare(path: str) -> None:
    conn = open_sync(path)
    try:
        migrate(conn)
    finally:
        conn.close()


async def _connect(path: str, *pragmas: str) -> aiosqlite.Connection:
    return await open_sqlite(path, *pragmas, isolation_level=None)


class LogStore:
    def __init__(
        self,
        path: str,
        settings: LogSettings,
        conn: aiosqlite.Connection,
    ) -> None:
        self.path = path
        self.settings = settings
        self._conn = conn
        self.writer = LogWriter(
            ThreadSink(
                path,
                RowBuilder(settings, Prices.from_settings(settings)),
                nice=settings.writer_nice,
            ),
            queue_size=settings.queue_size,
            batch_size=settings.batch_size,
            retention_days=settings.retention_days,
            linger_ms=settings.linger_ms,
        )
        self.recorder = LogRecorder(self.writer)
        self._closed = False
        self._fb_lock = asyncio.Lock()  # one feedback transaction at a time on ``_conn``

    @classmethod
    async def open(cls, path: str | Path, settings: LogSettings | None = None) -> LogStore:
        settings = settings or LogSettings()
        path = str(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_prepare, path)
        conn = await _connect(path)
        store = cls(path, settings, conn)
        try:
            await store.writer.start()
        except BaseException:
            await conn.close()
            raise
        return store

    @property
    def queue_depth(self) -> int:
        return self.writer.depth

    async def flush(self) -> None:
        await self.writer.flush()

    async def close(self) -> None:
        """Write every queued row, then close the connections (the SIGTERM path)."""
        if self._closed:
            return
        self._closed = True
        await self.writer.close()
        await self._conn.close()

    # ---- reads -------------------------------------------------------------------------

    async def list(self, f: LogFilter, *, limit: int = 50, cursor: str | None = None) -> LogPage:
        sql, args = list_sql(f, limit=limit + 1, cursor=cursor)
        rows = await self._conn.execute_fetchall(sql, args)
        entries = [entry(r) for r in rows[:limit]]
        more = len(rows) > limit
        return LogPage(
            data=entries, has_more=more, next_cursor=entries[-1].id if more and entries else None
        )

    async def get(self, rid: str) -> LogEntry | None:
        num = parse_id(rid)
        if num is None:
            return None
        rows = await self._conn.execute_fetchall(
            f"SELECT {', '.join(REQUEST_COLUMNS)} FROM requests WHERE id = ?", [num]
        )
        if not rows:
            return None
        e = entry(rows[0], attempts=True)
        e.feedback = await self.feedback_for(e.trace_id)
        return e

    async def pages(
        self, f: LogFilter, *, bodies: bool = False, page: int = 1000
    ) -> AsyncIterator[list[LogEntry]]:
        """Every matching row, newest first, a page at a time (for streamed export)."""
        cursor = None
        while True:
            sql, args = list_sql(f, limit=page, cursor=cursor, bodies=bodies)
            rows = await self._conn.execute_fetchall(sql, args)
            if not rows:
                return
            yield [entry(r) for r in rows]
            if len(rows) < page:
                return
            cursor = rows[-1][0]

    async def analytics(self, f: LogFilter, group_by: str | None = None) -> Analytics:
        stats, sargs, fsql, fargs = an.analytics_sql(f, group_by)
        tstats, targs, tfsql, tfargs = an.totals_sql(f)
        ex = self._conn.execute_fetchall
        if group_by:
            groups, fbs = await ex(stats, sargs), await ex(fsql, fargs)
        else:
            groups, fbs = [], []
        totals, tfb = await ex(tstats, targs), await ex(tfsql, tfargs)
        return an.build(group_by, list(groups), list(fbs), list(totals), list(tfb))

    # ---- feedback ----------------------------------------------------------------------

    async def add_feedback(self, items: list[FeedbackIn]) -> list[str]:
        rows = fb.rows_for(items)
        async with self._fb_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                await self._conn.executemany(fb.INSERT, rows)
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
        return [r[0] for r in rows]

    async def update_feedback(self, fid: str, upd: FeedbackUpdate) -> bool:
        sql, args = fb.update_sql(fid, upd)
        async with self._fb_lock:
            cur = await self._conn.execute(sql, args)
        return cur.rowcount > 0

    async def feedback_for(self, trace_id: str) -> list[FeedbackEntry]:
        rows = await self._conn.execute_fetchall(
            fb.SELECT + " WHERE trace_id = ? ORDER BY created_at", [trace_id]
        )
        return [_feedback(r) for r in rows]


def _feedback(r: tuple) -> FeedbackEntry:
    return FeedbackEntry(
        id=r[0],
        trace_id=r[1],
        value=r[2],
        weight=r[3],
        metadata=msgspec.json.decode(r[4]) if r[4] else None,
        created_at=r[5],
        updated_at=r[6],
    )


async def open_store(data_dir: str | Path, settings: LogSettings | None = None) -> LogStore:
    """Open (creating and migrating) ``<data_dir>/<settings.file>`` and start its writer."""
    settings = settings or LogSettings()
    return await LogStore.open(Path(data_dir) / settings.file, settings)
