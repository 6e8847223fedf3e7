"""Where the log writer's batches are written: the seam for other log backends.

`ThreadSink` writes them into the SQLite file on aiosqlite's thread, one hop per batch, with
`batches.BatchWriter`. A backend for a shared database (PostgreSQL, for many gateways) is
another class with the same four methods.

The writer thread runs at a low CPU priority (``[logs] writer_nice``, Linux): the event loop
and the writer share the gateway's core, and at equal priority the kernel splits it between
them while a batch is written, so a request that arrives then waits its turn. Niced, the
writer fills the loop's idle gaps and yields the core the moment the loop has work (at one
connection a p99 of 0.86 ms against 1.45 ms at equal priority, 0.70 ms with the log off;
docs/logs.md). A niced thread can starve on a host busy with other work, and an unprivileged
process cannot raise its priority again, so a second connection on a thread of normal
priority takes the batches marked ``urgent`` (a backlog, a flush, a close: see ``writer``)
and the retention prune, whose chunks the writer waits for.

A writer in a child process was tried and measured (bench A/B with each turn lasting until its
log is written): it cost more CPU per request than this thread — the pipe, msgpack both ways
and a second event loop — and at a low CPU priority it only moved the work to after the
load, where a fair benchmark still counts it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Protocol

import aiosqlite

from proxy.logstore.batches import STATEMENT_CACHE, BatchWriter
from proxy.logstore.rows import RowBuilder
from proxy.sqlite import open_sqlite

log = logging.getLogger("lockgate.logstore")

WRITER_PRAGMAS = ("cache_size=-16000",)
"""16 MB of page cache for the writer: the hot right edges of the tables and indexes."""
PER_THREAD_NICE = sys.platform.startswith("linux")
"""Linux keeps a nice value per thread (``setpriority`` on a thread id); elsewhere it would
renice the whole process, so the writer keeps its normal priority there."""


class Sink(Protocol):
    @property
    def failures(self) -> int:
        """Rows that could not be built or stored."""
        ...

    async def start(self) -> None: ...

    async def write(self, batch: list, *, urgent: bool = False) -> int:
        """Write ``batch`` (captured requests) in one transaction; rows written. ``urgent``:
        the writer is behind or someone waits for the rows (do not defer to idle time).
        Raises ``sqlite3.OperationalError`` on a transient error (the caller retries)."""
        ...

    async def prune(self, cutoff_id: int) -> int:
        """Delete a chunk of the rows below ``cutoff_id``; how many."""
        ...

    async def close(self) -> None: ...


Lane = tuple[aiosqlite.Connection, BatchWriter]
"""One writer connection (on its own aiosqlite thread) and the batch writer bound to it."""


class ThreadSink:
    """Batches written on aiosqlite's threads, in the gateway process: a niced lane, and a lane
    of normal priority for urgent batches (only one lane when ``nice`` is 0 or unsupported)."""

    def __init__(self, path: str, builder: RowBuilder, *, nice: int = 0) -> None:
        self._path = path
        self._builder = builder
        self._nice = nice if PER_THREAD_NICE else 0
        self._lanes: list[Lane] = []  # [niced or only, urgent]; kept after close (failures)
        self._closed = False

    @property
    def failures(self) -> int:
        return sum(w.failures for _, w in self._lanes)

    @property
    def niced(self) -> bool:
        """Whether batches are written on a niced thread (with an urgent one beside it)."""
        return len(self._lanes) > 1

    def _lane(self, urgent: bool) -> Lane:
        assert self._lanes, "sink not started"
        return self._lanes[-1] if urgent else self._lanes[0]

    async def _open(self) -> Lane:
        conn = await open_sqlite(
            self._path, *WRITER_PRAGMAS, isolation_level=None, cached_statements=STATEMENT_CACHE
        )
        return conn, BatchWriter(conn._conn, self._builder.build_captured)

    async def start(self) -> None:
        self._lanes.append(await self._open())
        if self._nice > 0:
            try:
                await self._lanes[0][0]._execute(_renice, self._nice)
            except OSError as e:
                log.warning("log writer keeps normal priority: %s", e)
                return
            self._lanes.append(await self._open())

    async def write(self, batch: list, *, urgent: bool = False) -> int:
        # aiosqlite has no public "run this function on the connection's thread";
        # ``_execute`` is what its own methods use (stable since aiosqlite 0.17).
        conn, writer = self._lane(urgent)
        return await conn._execute(writer.write, batch)

    async def prune(self, cutoff_id: int) -> int:
        conn, writer = self._lane(urgent=True)  # the writer task waits for every chunk
        return await conn._execute(writer.prune, cutoff_id)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for conn, _ in self._lanes:
            await conn.close()


def _renice(nice: int) -> None:
    """Lower the priority of the calling thread (only: Linux nice values are per thread)."""
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
