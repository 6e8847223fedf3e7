"""The log writer's gateway side: a bounded queue drained by one task, in batches.

``put`` awaits when the queue is full, so a slow disk slows the requests that log instead of
losing their rows. What is queued is cheap to queue: a flat tuple of the request's raw
values (`rows.capture`). The writer task takes what is queued (up to ``batch_size``, after a
short linger so batches fill) and hands the whole batch to its sink in one hop (aiosqlite's
thread, ``sinks``), where the rows are built and written in one transaction (``batches``).
``close`` waits for the queue to drain (the SIGTERM path).

A batch is marked urgent — written at normal priority rather than on the sink's niced thread
(``sinks``) — when the queue held a full batch (the gateway is busy: idle time cannot be
counted on), when someone waits for it (flush, close), and when it is retried after an error.

Write errors are retried — a locked or full disk holds the batch, it does not drop it; only a
row SQLite rejects outright (a constraint) is skipped and logged.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque

from proxy.logstore.batches import PRUNE_CHUNK
from proxy.logstore.schema import id_at
from proxy.logstore.sinks import Sink
from proxy.tasks import spawn

log = logging.getLogger("lockgate.logstore")

Item = tuple
"""What `rows.capture` returns for one request."""
PRUNE_EVERY_S = 3600.0


class StoreClosed(RuntimeError):
    """A row arrived after ``close``: the writer is gone."""


class LogWriter:
    """The queue is a plain list the writer swaps out a batch at a time; recording a request
    is one append (plus waking the writer when it sleeps). When ``queue_size`` rows wait,
    recorders wait for room (push back). ``flush`` and ``close`` cut the linger short."""

    def __init__(
        self,
        sink: Sink,
        *,
        queue_size: int,
        batch_size: int,
        retention_days: float | None = None,
        linger_ms: float = 0.0,
    ) -> None:
        self._linger_s = linger_ms / 1000
        self._sink = sink
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
        self.urgent_batches = 0
        self._errors = 0

    async def start(self) -> None:
        await self._sink.start()
        self._task = spawn(self._run(), name="lockgate-log-writer")

    @property
    def failures(self) -> int:
        """Write errors (each retry counts) plus rows that could not be built or stored."""
        return self._errors + self._sink.failures

    @property
    def depth(self) -> int:
        """Rows waiting in the queue."""
        return len(self._items)

    @property
    def unwritten(self) -> int:
        """Rows recorded but not yet committed: queued, or in the batch being written."""
        return self._queued - self._done

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
        else:
            await asyncio.shield(self._task)
        await self._sink.close()

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
                urgent = len(items) >= self._batch_size or self._closing or bool(self._flushes)
                if len(items) <= self._batch_size:
                    batch, self._items = items, []
                else:
                    batch = items[: self._batch_size]
                    del items[: self._batch_size]
                room = self._limit - len(self._items)
                while room > 0 and self._room:
                    _set(self._room.popleft())
                    room -= 1
                await self._write_retrying(batch, urgent)
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
                        await self._prune_chunk()
                    except Exception:
                        self._next_prune = time.monotonic() + PRUNE_EVERY_S
                        log.exception("log retention prune failed")
        finally:
            self._stopped = True
            for _, fut in self._flushes:
                _set(fut)
            while self._room:
                _set(self._room.popleft())

    async def _write_retrying(self, batch: list[Item], urgent: bool = False) -> None:
        """Write the batch; on a transient error (locked, I/O, disk full) wait and retry."""
        delay = 0.05
        while True:
            try:
                self.written += await self.write(batch, urgent=urgent)
                self.batches += 1
                self.urgent_batches += urgent
                return
            except sqlite3.OperationalError as e:
                self._errors += 1
                log.error("log write failed (%s); retrying %d rows in %.2fs", e, len(batch), delay)
                await asyncio.sleep(delay)
                urgent = True
                delay = min(delay * 2, 2.0)
            except Exception:
                self._errors += len(batch)
                log.exception("log batch of %d rows lost", len(batch))
                return

    async def write(self, batch: list[Item], *, urgent: bool = False) -> int:
        """One transaction for the whole batch, in one hop to the sink; rows written."""
        return await self._sink.write(batch, urgent=urgent)

    async def _prune_chunk(self) -> None:
        """One chunk of the retention prune, after a batch. Turning retention on over a big
        file leaves many chunks to delete: one per batch keeps the rows of live requests
        flowing meanwhile (all of them in a row could hold the queue for minutes). The next
        pass is due ``PRUNE_EVERY_S`` after a chunk comes back short."""
        assert self._retention_s is not None
        try:
            n = await self._sink.prune(id_at(time.time() - self._retention_s))
        except sqlite3.Error as e:
            log.error("log retention prune failed: %s", e)
            n = 0
        if n < PRUNE_CHUNK:
            self._next_prune = time.monotonic() + PRUNE_EVERY_S

    async def prune(self, now: float | None = None) -> int:
        """Delete every row past retention now (as of ``now``), in chunks so the write lock is
        held briefly; the rows deleted. The writer itself prunes a chunk per batch instead."""
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        if self._retention_s is None:
            return 0
        cutoff = id_at((now if now is not None else time.time()) - self._retention_s)
        deleted = 0
        try:
            while True:
                n = await self._sink.prune(cutoff)
                deleted += n
                if n < PRUNE_CHUNK:
                    return deleted
        except sqlite3.Error as e:
            log.error("log retention prune failed: %s", e)
            return deleted


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
