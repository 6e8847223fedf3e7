"""Where the log writer's batches are written: the seam for other log backends.

`ThreadSink` writes them into the SQLite file on aiosqlite's thread, one hop per batch, with
`batches.BatchWriter`. A backend for a shared database (PostgreSQL, for many gateways) is
another class with the same four methods.

A writer in a child process was tried and measured (bench A/B with each turn lasting until its
log is written): it cost more CPU per request than this thread — the pipe, msgpack both ways
and a second event loop — and at a low CPU priority it only moved the work to after the
load, where a fair benchmark still counts it.
"""

from __future__ import annotations

from typing import Protocol

import aiosqlite

from proxy.logstore.batches import STATEMENT_CACHE, BatchWriter
from proxy.logstore.rows import RowBuilder
from proxy.sqlite import open_sqlite

WRITER_PRAGMAS = ("cache_size=-16000",)
"""16 MB of page cache for the writer: the hot right edges of the tables and indexes."""


class Sink(Protocol):
    @property
    def failures(self) -> int:
        """Rows that could not be built or stored."""
        ...

    async def start(self) -> None: ...

    async def write(self, batch: list) -> int:
        """Write ``batch`` (captured requests) in one transaction; rows written. Raises
        ``sqlite3.OperationalError`` on a transient error (the caller retries)."""
        ...

    async def prune(self, cutoff_id: int) -> int:
        """Delete a chunk of the rows below ``cutoff_id``; how many."""
        ...

    async def close(self) -> None: ...


class ThreadSink:
    """Batches written on aiosqlite's thread, in the gateway process."""

    def __init__(self, path: str, builder: RowBuilder) -> None:
        self._path = path
        self._builder = builder
        self._conn: aiosqlite.Connection | None = None
        self._writer: BatchWriter | None = None

    @property
    def failures(self) -> int:
        return self._writer.failures if self._writer is not None else 0

    async def start(self) -> None:
        self._conn = await open_sqlite(
            self._path, *WRITER_PRAGMAS, isolation_level=None, cached_statements=STATEMENT_CACHE
        )
        self._writer = BatchWriter(self._conn._conn, self._builder.build_captured)

    async def write(self, batch: list) -> int:
        # aiosqlite has no public "run this function on the connection's thread";
        # ``_execute`` is what its own methods use (stable since aiosqlite 0.17).
        assert self._conn is not None and self._writer is not None
        return await self._conn._execute(self._writer.write, batch)

    async def prune(self, cutoff_id: int) -> int:
        assert self._conn is not None and self._writer is not None
        return await self._conn._execute(self._writer.prune, cutoff_id)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
