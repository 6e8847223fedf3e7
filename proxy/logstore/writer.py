"""The only code that writes log rows: a bounded queue drained by one task, in batches.

``put`` awaits when the queue is full, so a slow disk slows the requests that log instead of
losing their rows. The writer takes what is queued (up to ``batch_size``), writes it with
``executemany`` in one transaction, and goes back for more; ``close`` waits for the queue to
drain (the SIGTERM path). Write errors are retried — a locked or full disk holds the batch,
it does not drop it; only a row SQLite rejects outright (a constraint) is skipped and logged.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import aiosqlite

from proxy.logstore.schema import ATTEMPT_COLUMNS, REQUEST_COLUMNS
from proxy.tasks import spawn

log = logging.getLogger("lockgate.logstore")

Item = tuple[tuple, list[tuple]]
_STOP = object()
PRUNE_EVERY_S = 3600.0
INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"
)
INSERT_ATTEMPT = (
    f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ATTEMPT_COLUMNS))})"
)


class StoreClosed(RuntimeError):
    """A row arrived after ``close``: the writer is gone."""


class LogWriter:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        queue_size: int,
        batch_size: int,
        retention_days: float | None = None,
        linger_ms: float = 0.0,
    ) -> None:
        self._linger_s = linger_ms / 1000
        self._conn = conn
        self._retention_s = retention_days * 86400 if retention_days else None
        self._next_prune = 0.0
        self._lock = asyncio.Lock()  # one transaction at a time on the writer's connection
        self._queue: asyncio.Queue[object] = asyncio.Queue(queue_size)
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.written = 0
        self.batches = 0
        self.failures = 0

    def start(self) -> None:
        self._task = spawn(self._run(), name="lockgate-log-writer")

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def put(self, item: Item) -> None:
        if self._closing:
            raise StoreClosed("log store is closed")
        await self._queue.put(item)

    async def flush(self) -> None:
        """Wait until every row queued so far is on disk."""
        await self._queue.join()

    async def close(self) -> None:
        """Drain every queued row to disk, then stop. Idempotent."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        if self._task is None:
            return
        await self._queue.put(_STOP)
        await asyncio.shield(self._task)

    async def _run(self) -> None:
        q = self._queue
        stop = False
        while not stop:
            batch: list[Item] = []
            first = await q.get()
            if first is _STOP:
                break
            batch.append(first)  # type: ignore[arg-type]
            if self._linger_s and q.qsize() < self._batch_size and not self._closing:
                # Let a batch build up: one thread round trip and one commit per batch is what
                # keeps logging cheap under load; a row waits at most this long.
                await asyncio.sleep(self._linger_s)
            while len(batch) < self._batch_size and not q.empty():
                item = q.get_nowait()
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            await self._write_retrying(batch)
            for _ in batch:
                q.task_done()
            if self._retention_s is not None and time.monotonic() >= self._next_prune:
                try:
                    await self.prune()
                except Exception:
                    log.exception("log retention prune failed")

    async def _write_retrying(self, batch: list[Item]) -> None:
        """Write the batch; on a transient error (locked, I/O, disk full) wait and retry; when
        SQLite rejects a row itself, fall back to row by row and skip only the bad ones."""
        delay = 0.05
        while True:
            try:
                await self.write(batch)
                self.written += len(batch)
                self.batches += 1
                return
            except sqlite3.OperationalError as e:
                await self._rollback()
                self.failures += 1
                log.error("log write failed (%s); retrying %d rows in %.2fs", e, len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception as e:
                await self._rollback()
                if len(batch) == 1:
                    self.failures += 1
                    log.error("log row %s rejected: %r", batch[0][0][0], e)
                    return
                for item in batch:
                    await self._write_retrying([item])
                return

    async def write(self, batch: list[Item]) -> None:
        """One transaction for the whole batch."""
        attempts = [a for _, rows in batch for a in rows]
        async with self._lock:
            await self._conn.execute("BEGIN")
            try:
                await self._conn.executemany(INSERT_REQUEST, [r for r, _ in batch])
                if attempts:
                    await self._conn.executemany(INSERT_ATTEMPT, attempts)
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    async def prune(self, now: float | None = None) -> int:
        """Delete rows past retention, in chunks so the write lock is held briefly; runs on
        the writer task (at most once per ``PRUNE_EVERY_S``), never on the request path."""
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        if self._retention_s is None:
            return 0
        cutoff = (now if now is not None else time.time()) - self._retention_s
        deleted = 0
        try:
            while True:
                async with self._lock:
                    n = await self._prune_chunk(cutoff)
                deleted += n
                if n < 2000:
                    return deleted
        except sqlite3.Error as e:
            log.error("log retention prune failed: %s", e)
            return deleted

    async def _prune_chunk(self, cutoff: float) -> int:
        await self._conn.execute("BEGIN")
        try:
            ids = [
                r[0]
                for r in await self._conn.execute_fetchall(
                    "SELECT id FROM requests WHERE created_at < ? LIMIT 2000", [cutoff]
                )
            ]
            if ids:
                marks = ",".join("?" * len(ids))
                await self._conn.execute(f"DELETE FROM attempts WHERE request_id IN ({marks})", ids)
                await self._conn.execute(f"DELETE FROM requests WHERE id IN ({marks})", ids)
            await self._conn.execute("COMMIT")
            return len(ids)
        except BaseException:
            await self._rollback()
            raise

    async def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                await self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
