"""The only code that writes log rows: a bounded queue drained by one task, in batches.

``put`` awaits when the queue is full, so a slow disk slows the requests that log instead of
losing their rows. What is queued is cheap to queue: a flat tuple of the request's raw
values (`rows.capture`). The writer takes what is queued (up to ``batch_size``) and
hands the whole batch to aiosqlite's thread in one hop, where the rows are built and written
in one transaction (``BEGIN IMMEDIATE``, multi-row ``INSERT``s into ``requests`` and, for the
rows that have key tokens, ``request_keys``, ``COMMIT``); ``close`` waits for the queue to
drain (the SIGTERM path).

The thread holds the GIL only in short stretches: rows are built and bound a chunk at a time,
and SQLite releases the GIL while it writes each row, so the event loop never waits on the
writer for long. Write errors are retried — a locked or full disk holds the batch, it does
not drop it; only a row SQLite rejects outright (a constraint) is skipped and logged, and an
id another worker already took moves the row to the next free id.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from functools import cache
from itertools import chain

import aiosqlite

from proxy.logstore.schema import REQUEST_COLUMNS, id_at, stored_keys
from proxy.tasks import spawn

log = logging.getLogger("lockgate.logstore")

Item = tuple
"""What `rows.capture` returns for one request."""
Built = tuple[tuple, str]
PRUNE_EVERY_S = 3600.0
PRUNE_CHUNK = 500
CHUNK = 16
"""Rows built and bound per GIL stretch of the writer thread (≈ 0.1 ms)."""
INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"
)
INSERT_KEYS = "INSERT INTO request_keys (rowid, k) VALUES (?, ?)"
_flat = chain.from_iterable
DELETE_KEYS = "INSERT INTO request_keys (request_keys, rowid, k) VALUES ('delete', ?, ?)"


class StoreClosed(RuntimeError):
    """A row arrived after ``close``: the writer is gone."""


class LogWriter:
    """The queue is a plain list the writer swaps out a batch at a time; recording a request
    is one append (plus waking the writer when it sleeps). When ``queue_size`` rows wait,
    recorders wait for room (push back). ``flush`` and ``close`` cut the linger short."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        build: Callable[..., Built],
        *,
        queue_size: int,
        batch_size: int,
        retention_days: float | None = None,
        linger_ms: float = 0.0,
    ) -> None:
        self._linger_s = linger_ms / 1000
        self._conn = conn
        self._build = build
        self._retention_s = retention_days * 86400 if retention_days else None
        self._next_prune = 0.0
        self._items: list[Item] = []
        self._limit = queue_size
        self._batch_size = batch_size
        self._wake: asyncio.Future[None] | None = None  # the writer waits for rows / linger
        self._room: deque[asyncio.Future[None]] = deque()  # recorders wait for room
        self._flushes: list[tuple[int, asyncio.Future[None]]] = []
        self._queued = 0
        self._done = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = False
        self.written = 0
        self.batches = 0
        self.failures = 0

    def start(self) -> None:
        self._task = spawn(self._run(), name="lockgate-log-writer")

    @property
    def depth(self) -> int:
        return len(self._items)

    def offer(self, item: Item) -> bool:
        """Queue without waiting; False when the queue is full (then ``await put``)."""
        if self._stopped:
            raise StoreClosed("log store is closed")
        items = self._items
        if len(items) >= self._limit:
            return False
        items.append(item)
        self._queued += 1
        wake = self._wake
        if wake is not None and (len(items) == 1 or len(items) >= self._batch_size):
            self._hurry()
        return True

    async def put(self, item: Item) -> None:
        while not self.offer(item):
            fut = asyncio.get_running_loop().create_future()
            self._room.append(fut)
            try:
                await fut
            except BaseException:
                if fut in self._room:
                    self._room.remove(fut)
                raise

    async def flush(self) -> None:
        """Wait until every row queued so far is on disk."""
        target = self._queued
        if self._done >= target or self._stopped:
            return
        fut = asyncio.get_running_loop().create_future()
        self._flushes.append((target, fut))
        self._hurry()
        await fut

    async def close(self) -> None:
        """Drain every queued row to disk, then stop. Idempotent. Rows recorded while the
        queue drains (requests still finishing) are written too."""
        self._closing = True
        self._hurry()
        if self._task is None:
            self._stopped = True
            return
        await asyncio.shield(self._task)

    def _hurry(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _sleep(self, seconds: float | None) -> None:
        """Until woken (a row arrives, a batch is full, flush, close) or ``seconds`` pass."""
        loop = asyncio.get_running_loop()
        self._wake = fut = loop.create_future()
        timer = loop.call_later(seconds, _set, fut) if seconds is not None else None
        try:
            await fut
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    async def _run(self) -> None:
        try:
            while True:
                if not self._items:
                    if self._closing and not self._room:
                        return
                    await self._sleep(None)
                    continue
                if (
                    self._linger_s
                    and len(self._items) < self._batch_size
                    and not self._closing
                    and not self._flushes
                ):
                    # Let a batch build up: one thread round trip and one commit per batch is
                    # what keeps logging cheap under load; a row waits at most this long.
                    await self._sleep(self._linger_s)
                items = self._items
                if len(items) <= self._batch_size:
                    batch, self._items = items, []
                else:
                    batch = items[: self._batch_size]
                    del items[: self._batch_size]
                room = self._limit - len(self._items)
                while room > 0 and self._room:
                    _set(self._room.popleft())
                    room -= 1
                await self._write_retrying(batch)
                self._done += len(batch)
                if self._flushes:
                    waiting = []
                    for target, fut in self._flushes:
                        if target <= self._done:
                            _set(fut)
                        else:
                            waiting.append((target, fut))
                    self._flushes = waiting
                if self._retention_s is not None and time.monotonic() >= self._next_prune:
                    try:
                        await self.prune()
                    except Exception:
                        log.exception("log retention prune failed")
        finally:
            self._stopped = True
            for _, fut in self._flushes:
                _set(fut)
            while self._room:
                _set(self._room.popleft())

    async def _write_retrying(self, batch: list[Item]) -> None:
        """Write the batch; on a transient error (locked, I/O, disk full) wait and retry."""
        delay = 0.05
        while True:
            try:
                await self.write(batch)
                self.batches += 1
                return
            except sqlite3.OperationalError as e:
                self.failures += 1
                log.error("log write failed (%s); retrying %d rows in %.2fs", e, len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:
                self.failures += 1
                log.exception("log batch of %d rows lost", len(batch))
                return

    async def write(self, batch: list[Item]) -> None:
        """One transaction for the whole batch, in one hop to the connection's thread."""
        # aiosqlite has no public "run this function on the connection's thread";
        # ``_execute`` is what its own methods use (stable since aiosqlite 0.17).
        self.written += await self._conn._execute(self._write_sync, batch)

    # ---- on aiosqlite's thread -----------------------------------------------------------

    def _write_sync(self, batch: list[Item]) -> int:
        db: sqlite3.Connection = self._conn._conn
        built: list[Built] = []
        done = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for done in range(0, len(batch), CHUNK):
                chunk = self._build_chunk(batch[done : done + CHUNK])
                built += chunk
                _insert(db, INSERT_REQUEST, [b[0] for b in chunk])
                keys = [(b[0][0], b[1]) for b in chunk if b[1]]
                if keys:
                    _insert(db, INSERT_KEYS, keys)
            db.execute("COMMIT")
            return len(built)
        except sqlite3.OperationalError:
            _rollback(db)
            raise
        except sqlite3.Error:  # a constraint (e.g. an id taken by another worker)
            _rollback(db)
        built += self._build_chunk(batch[done + CHUNK :])
        return self._write_one_by_one(db, built)

    def _build_chunk(self, items: list[Item]) -> list[Built]:
        out = []
        build = self._build
        for item in items:
            try:
                out.append(build(item))
            except Exception:  # a bug in logging must not stop the writer
                self.failures += 1
                log.exception("could not build the log row for trace %s", item[1])
        return out

    def _write_one_by_one(self, db: sqlite3.Connection, built: list[Built]) -> int:
        written = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            for row, keys in built:
                for _ in range(64):
                    db.execute("SAVEPOINT one")
                    try:
                        db.execute(INSERT_REQUEST, row)
                        if keys:
                            db.execute(INSERT_KEYS, (row[0], keys))
                        db.execute("RELEASE one")
                        written += 1
                        break
                    except sqlite3.OperationalError:
                        raise
                    except sqlite3.Error as e:
                        db.execute("ROLLBACK TO one")
                        db.execute("RELEASE one")
                        rid = row[0]
                        taken = db.execute("SELECT 1 FROM requests WHERE id = ?", (rid,)).fetchone()
                        if taken is None or not isinstance(rid, int):
                            self.failures += 1
                            log.error("log row %s rejected: %r", rid, e)
                            break
                        row = (rid + 1, *row[1:])
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return written

    def _prune_sync(self, cutoff_id: int) -> int:
        db: sqlite3.Connection = self._conn._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT id, trace_id, metadata FROM requests WHERE id < ? ORDER BY id LIMIT ?",
                (cutoff_id, PRUNE_CHUNK),
            ).fetchall()
            if rows:
                keyed = [(r[0], k) for r in rows if (k := stored_keys(r[1], r[2], r[0]))]
                db.executemany(DELETE_KEYS, keyed)
                db.executemany("DELETE FROM requests WHERE id = ?", [(r[0],) for r in rows])
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return len(rows)

    # --------------------------------------------------------------------------------------

    async def prune(self, now: float | None = None) -> int:
        """Delete rows past retention, in chunks so the write lock is held briefly; runs on
        the writer task (at most once per ``PRUNE_EVERY_S``), never on the request path."""
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        if self._retention_s is None:
            return 0
        cutoff = id_at((now if now is not None else time.time()) - self._retention_s)
        deleted = 0
        try:
            while True:
                n = await self._conn._execute(self._prune_sync, cutoff)
                deleted += n
                if n < PRUNE_CHUNK:
                    return deleted
        except sqlite3.Error as e:
            log.error("log retention prune failed: %s", e)
            return deleted


def _insert(db: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
    """Insert ``rows`` with multi-row ``VALUES`` statements: SQLite writes each statement in
    one call, so the thread gives the GIL away once per statement instead of once per row
    (every hand-over is a thread switch when the event loop is busy). Statements come in
    power-of-two sizes, so only a few are ever prepared (and all stay in the cache)."""
    i, n = 0, len(rows)
    while i < n:
        size = _sizes_upto(n - i)
        db.execute(_multi(sql, size), list(_flat(rows[i : i + size])))
        i += size


def _sizes_upto(n: int) -> int:
    return min(CHUNK, 1 << (n.bit_length() - 1))


@cache
def _multi(sql: str, rows: int) -> str:
    head, _, values = sql.partition(" VALUES ")
    return f"{head} VALUES {', '.join([values] * rows)}"


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _rollback(db: sqlite3.Connection) -> None:
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error:
        pass
