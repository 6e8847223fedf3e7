"""Cache entries in SQLite (WAL), with an in-memory LRU in front.

Why this shape:
- SQLite is the source of truth: entries survive a restart, several worker processes can share
  one file, and the semantic index is rebuilt from it at start-up.
- The request path never writes to disk. `put` makes the entry visible in memory at once and
  queues the row; one background writer task batches rows into SQLite and then enforces the caps
  (entries and bytes, least recently used first). Last-used times are flushed the same way.
- A simple-cache hit is a dict lookup in the memory LRU. A key not in memory costs one indexed
  SELECT in SQLite's thread (after a restart, or when another worker wrote it) — misses then go
  upstream anyway, so that read is small next to the upstream call.

Never stored: request headers, provider keys. Stored headers are the answer's ``content-type``
only (see `keep_headers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from cache.entries import (
    COLUMNS,
    SCHEMA,
    Entry,
    Removed,
    StoreStats,
    encode_headers,
    row_entry,
)
from proxy.sqlite import open_sqlite
from proxy.tasks import spawn

log = logging.getLogger("lockgate.cache")


class EntryStore:
    """Create with `EntryStore.open`; close with `close` (drains pending writes)."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        max_entries: int,
        max_bytes: int,
        memory_entries: int,
        memory_bytes: int,
        sweep_interval: float,
        on_removed: Callable[[Removed], None] | None,
    ) -> None:
        self._db = db
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._mem: OrderedDict[str, Entry] = OrderedDict()
        self._mem_bytes = 0
        self._mem_entries = memory_entries
        self._mem_max_bytes = memory_bytes
        self._queue: asyncio.Queue[Entry | None] = asyncio.Queue()
        self._touched: dict[str, float] = {}
        self._unwritten: dict[int, Entry] = {}
        """Entries put but not yet in SQLite, by id (the semantic index may already name them)."""
        self._sweep_interval = sweep_interval
        self.on_removed = on_removed
        self.evicted = 0
        self.expired = 0
        self._closed = False
        self._writer = spawn(self._write_loop(), name="cache-store-writer")
        self._sweeper = spawn(self._sweep_loop(), name="cache-store-sweeper")

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        max_entries: int = 100_000,
        max_bytes: int = 1 << 30,
        memory_entries: int = 10_000,
        memory_bytes: int = 64 << 20,
        sweep_interval: float = 60.0,
        on_removed: Callable[[Removed], None] | None = None,
    ) -> EntryStore:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await open_sqlite(str(path))
        await db.executescript(SCHEMA)
        await db.commit()
        store = cls(
            db,
            max_entries=max_entries,
            max_bytes=max_bytes,
            memory_entries=memory_entries,
            memory_bytes=memory_bytes,
            sweep_interval=sweep_interval,
            on_removed=on_removed,
        )
        await store.sweep()
        return store

    # -- reads ---------------------------------------------------------------------------

    def get_memory(self, key: str, now: float) -> Entry | None:
        """The entry if it is in memory and fresh: no I/O, the simple-cache hot path."""
        e = self._mem.get(key)
        if e is None:
            return None
        if e.expires <= now:
            self._forget(key)
            return None
        self._mem.move_to_end(key)
        e.last_used = now
        self._touched[key] = now
        return e

    async def get(self, key: str, now: float | None = None) -> Entry | None:
        """Memory first, then SQLite (entries written before a restart or by another worker)."""
        now = time.time() if now is None else now
        e = self.get_memory(key, now)
        if e is not None:
            return e
        e = await self._select_fresh("key", key, now)
        if e is None:
            return None
        e.last_used = now
        self._touched[key] = now
        self._remember(e)
        return e

    async def get_by_id(self, entry_id: int, now: float | None = None) -> Entry | None:
        """For the semantic index, whose results are ids."""
        now = time.time() if now is None else now
        e = self._unwritten.get(entry_id)
        if e is not None:
            return e if e.expires > now else None
        e = await self._select_fresh("id", entry_id, now)
        if e is None:
            return None
        mem = self.get_memory(e.key, now)
        if mem is not None and mem.id == e.id:
            return mem
        return e

    async def _select_fresh(self, column: str, value: object, now: float) -> Entry | None:
        """The stored entry whose ``column`` (``key`` or ``id``) is ``value``, unless expired."""
        async with self._db.execute(
            f"SELECT {COLUMNS} FROM cache_entries WHERE {column} = ?", (value,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        e = row_entry(row)
        return e if e.expires > now else None

    async def vectors(self, now: float | None = None) -> list[tuple[int, str, bytes]]:
        """(id, scope, vector) of every fresh semantic entry: what the index is rebuilt from."""
        now = time.time() if now is None else now
        async with self._db.execute(
            "SELECT id, scope, vector FROM cache_entries WHERE vector IS NOT NULL "
            "AND scope IS NOT NULL AND expires > ?",
            (now,),
        ) as cur:
            return [(r[0], r[1], r[2]) for r in await cur.fetchall()]

    async def vectors_since(
        self, after: float, known: Callable[[int], bool], now: float | None = None
    ) -> list[tuple[int, str, bytes]]:
        """(id, scope, vector) of fresh semantic entries created after ``after`` whose id
        ``known`` does not accept: what other workers stored since (ids first, then only the
        unknown rows' vectors)."""
        now = time.time() if now is None else now
        async with self._db.execute(
            "SELECT id FROM cache_entries WHERE created > ? AND vector IS NOT NULL "
            "AND scope IS NOT NULL AND expires > ?",
            (after, now),
        ) as cur:
            ids = [r[0] for r in await cur.fetchall() if not known(r[0])]
        out: list[tuple[int, str, bytes]] = []
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            async with self._db.execute(
                "SELECT id, scope, vector FROM cache_entries "
                f"WHERE id IN ({','.join('?' * len(part))})",
                part,
            ) as cur:
                out += [(r[0], r[1], r[2]) for r in await cur.fetchall() if r[2] is not None]
        return out

    # -- writes --------------------------------------------------------------------------

    def put(self, entry: Entry) -> Entry | None:
        """Make ``entry`` visible now and queue its row; returns the entry it replaced (in
        memory), whose id the caller drops from the semantic index."""
        if self._closed:
            return None
        old = self._mem.get(entry.key)
        self._remember(entry)
        self._unwritten[entry.id] = entry
        self._queue.put_nowait(entry)
        return old

    async def flush(self) -> None:
        """Wait until every queued write is in SQLite (tests, clear, shutdown)."""
        await self._queue.join()

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while not self._queue.empty() and len(batch) < 512:
                batch.append(self._queue.get_nowait())
            try:
                rows = [e for e in batch if e is not None]
                if rows:
                    await self._write(rows)
                await self._flush_touched()
            except Exception:
                log.exception("cache writer: batch of %d lost", len(batch))
            finally:
                for e in batch:
                    if e is not None:
                        self._unwritten.pop(e.id, None)
                for _ in batch:
                    self._queue.task_done()
            if any(e is None for e in batch):
                return

    async def _write(self, rows: list[Entry]) -> None:
        await self._db.executemany(
            f"INSERT OR REPLACE INTO cache_entries ({COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.id,
                    e.key,
                    e.namespace,
                    e.scope,
                    e.created,
                    e.expires,
                    e.last_used,
                    e.size,
                    e.status,
                    e.provider,
                    encode_headers(e.headers),
                    e.body,
                    e.prompt,
                    e.vector,
                )
                for e in rows
            ],
        )
        await self._db.commit()
        await self._enforce_caps()

    async def _flush_touched(self) -> None:
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        await self._db.executemany(
            "UPDATE cache_entries SET last_used = ? WHERE key = ?",
            [(t, k) for k, t in touched.items()],
        )
        await self._db.commit()

    async def _enforce_caps(self) -> None:
        async with self._db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM cache_entries"
        ) as cur:
            count, total = await cur.fetchone()  # type: ignore[misc]
        if count <= self.max_entries and total <= self.max_bytes:
            return
        await self._flush_touched()
        over_n = max(0, count - self.max_entries)
        over_b = max(0, total - self.max_bytes)
        victims: Removed = []
        keys: list[str] = []
        freed = 0
        async with self._db.execute(
            "SELECT id, key, scope, size FROM cache_entries ORDER BY last_used"
        ) as cur:
            async for row in cur:
                if len(victims) >= over_n and freed >= over_b:
                    break
                victims.append((row[0], row[2]))
                keys.append(row[1])
                freed += row[3]
        await self._delete_ids([v[0] for v in victims])
        for k in keys:
            self._forget(k)
        self.evicted += len(victims)
        self._removed(victims)

    async def _delete_ids(self, ids: list[int]) -> None:
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            await self._db.execute(
                f"DELETE FROM cache_entries WHERE id IN ({','.join('?' * len(part))})", part
            )
        await self._db.commit()

    def _removed(self, removed: Removed) -> None:
        if removed and self.on_removed is not None:
            self.on_removed(removed)

    async def sweep(self, now: float | None = None) -> int:
        """Delete expired entries; returns how many."""
        now = time.time() if now is None else now
        async with self._db.execute(
            "SELECT id, key, scope FROM cache_entries WHERE expires <= ?", (now,)
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            return 0
        await self._delete_ids([r[0] for r in rows])
        for r in rows:
            e = self._mem.get(r[1])
            if e is not None and e.id == r[0]:
                self._forget(r[1])
        self.expired += len(rows)
        self._removed([(r[0], r[2]) for r in rows])
        return len(rows)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("cache sweep failed")

    async def clear(self, namespace: str | None = None) -> int:
        """Delete every entry (of one namespace); returns how many."""
        await self.flush()
        where, args = ("WHERE namespace = ?", (namespace,)) if namespace is not None else ("", ())
        async with self._db.execute(
            f"SELECT id, key, scope FROM cache_entries {where}", args
        ) as cur:
            rows = list(await cur.fetchall())
        await self._db.execute(f"DELETE FROM cache_entries {where}", args)
        await self._db.commit()
        for k in [k for k, e in self._mem.items() if namespace is None or e.namespace == namespace]:
            self._forget(k)
        self._removed([(r[0], r[2]) for r in rows])
        return len(rows)

    async def stats(self) -> StoreStats:
        async with self._db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM cache_entries"
        ) as cur:
            count, total = await cur.fetchone()  # type: ignore[misc]
        return StoreStats(
            entries=count,
            bytes=total,
            memory_entries=len(self._mem),
            memory_bytes=self._mem_bytes,
            pending_writes=self._queue.qsize(),
            evicted=self.evicted,
            expired=self.expired,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sweeper.cancel()
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        with contextlib.suppress(asyncio.CancelledError):
            await self._sweeper
        await self._flush_touched()
        await self._db.close()

    # -- memory LRU ----------------------------------------------------------------------

    def _remember(self, e: Entry) -> None:
        old = self._mem.pop(e.key, None)
        if old is not None:
            self._mem_bytes -= old.size
        if e.size > self._mem_max_bytes:
            return
        self._mem[e.key] = e
        self._mem_bytes += e.size
        while len(self._mem) > self._mem_entries or self._mem_bytes > self._mem_max_bytes:
            _, dropped = self._mem.popitem(last=False)
            self._mem_bytes -= dropped.size

    def _forget(self, key: str) -> None:
        e = self._mem.pop(key, None)
        if e is not None:
            self._mem_bytes -= e.size
