"""Writing one batch of captured requests into SQLite: build the rows, insert them, commit.

Plain blocking code on a plain ``sqlite3`` connection, run on aiosqlite's thread by
``sinks.ThreadSink``.

One transaction per batch (``BEGIN IMMEDIATE``, multi-row ``INSERT``s into ``requests`` and,
for the rows that have key tokens, ``request_keys``, ``COMMIT``). When SQLite rejects a row
outright (a constraint), the batch is written again one row at a time so only that row is
skipped, and an id another worker already took moves the row to the next free id.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from functools import cache
from itertools import chain

from proxy.logstore.schema import REQUEST_COLUMNS, stored_keys

log = logging.getLogger("lockgate.logstore")

Built = tuple[tuple, str]
"""A ``requests`` row and its ``request_keys`` text ("" for none)."""
CHUNK = 16
"""Rows built and bound per ``INSERT`` (≈ 0.1 ms of work between two GIL hand-overs)."""
PRUNE_CHUNK = 500
INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"
)
INSERT_KEYS = "INSERT INTO request_keys (rowid, k) VALUES (?, ?)"
DELETE_KEYS = "INSERT INTO request_keys (request_keys, rowid, k) VALUES ('delete', ?, ?)"
_flat = chain.from_iterable

# The sqlite3 module passes every bound value that is not exactly an int, float, str or
# bytearray — so every None and every bytes, i.e. the bodies and the empty columns — through
# its adapter protocol: a registry lookup, then ``__adapt__`` and ``__conform__`` looked up and
# missed (~2.5k instructions each, ~10k per log row). Registered identity adapters end the
# search at the first step. They are process-wide and change no value (``{}.get(None)`` is
# None, ``bytes(b)`` is ``b``), so other sqlite3 users in the gateway are unaffected.
sqlite3.register_adapter(bytes, bytes)
sqlite3.register_adapter(type(None), {}.get)


class BatchWriter:
    """Builds (``build``: one captured request → `Built`) and writes batches on ``db``.
    ``failures`` counts rows that could not be built or were rejected."""

    def __init__(self, db: sqlite3.Connection, build: Callable[[tuple], Built]) -> None:
        self.db = db
        self.build = build
        self.failures = 0

    def write(self, batch: list) -> int:
        """Write ``batch`` in one transaction; the number of rows written. A transient error
        (locked, I/O, disk full) rolls back and raises ``sqlite3.OperationalError``: the
        caller retries the whole batch."""
        db = self.db
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
        return self._write_one_by_one(built)

    def _build_chunk(self, items: list) -> list[Built]:
        out = []
        build = self.build
        for item in items:
            try:
                out.append(build(item))
            except Exception:  # a bug in logging must not stop the writer
                self.failures += 1
                log.exception("could not build the log row for trace %s", item[1])
        return out

    def _write_one_by_one(self, built: list[Built]) -> int:
        db = self.db
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

    def prune(self, cutoff_id: int) -> int:
        """Delete up to `PRUNE_CHUNK` of the oldest rows below ``cutoff_id`` (and their key
        tokens) in one short transaction; the number deleted."""
        db = self.db
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


def _insert(db: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
    """Insert ``rows`` with multi-row ``VALUES`` statements: SQLite writes each statement in
    one call, so the thread gives the GIL away once per statement instead of once per row.
    Statements come in power-of-two sizes, so only a few are ever prepared (and all stay in
    the cache)."""
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


def _rollback(db: sqlite3.Connection) -> None:
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error:
        pass
