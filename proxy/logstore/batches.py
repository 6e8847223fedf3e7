"""Writing one batch of captured requests into SQLite: build the rows, insert them, commit.

Plain blocking code on a plain ``sqlite3`` connection, run on aiosqlite's thread by
``sinks.ThreadSink``.

One transaction per batch, in as few statements as possible: every statement hands the GIL
to SQLite and takes it back from the busy event loop. So the rows are built first; a batch
whose rows need no key tokens (most: see ``schema.found_by_time``) is one multi-row ``INSERT``
in autocommit (a statement is its own transaction). Otherwise ``BEGIN IMMEDIATE``, the
``requests`` rows, their ``request_keys``, ``COMMIT``. (Against six or more statements per
batch before: 6k fewer instructions per logged request under valgrind; the CPU-time effect was
smaller than the noise of the bench machine.)

When SQLite rejects a row outright (a constraint), the batch is written again one row at a
time so only that row is skipped, and an id another worker already took moves the row to the
next free id.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from functools import cache
from itertools import chain

from proxy.logstore.rows import Built
from proxy.logstore.schema import REQUEST_COLUMNS, stored_keys

log = logging.getLogger("lockgate.logstore")

MAX_ROWS = 64
"""Rows per ``INSERT`` statement at most (the store's ``batch_size`` default matches). Each size
is its own prepared statement, kept for reuse, and a big one is big: the statements for 1 to
128 rows took 15 MB, those for 1 to 64 about 4 MB."""
STATEMENT_CACHE = 2 * MAX_ROWS + 16
"""Prepared statements the writer's connection keeps: one per statement size, two tables."""
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
        self.max_rows = 0  # read from the connection on its own thread, at the first write

    def write(self, batch: list) -> int:
        """Write ``batch`` in one transaction; the number of rows written. A transient error
        (locked, I/O, disk full) rolls back and raises ``sqlite3.OperationalError``: the
        caller retries the whole batch."""
        db = self.db
        if not self.max_rows:
            most = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(REQUEST_COLUMNS)
            self.max_rows = min(MAX_ROWS, most)
        built = self._build_all(batch)
        rows = [b[0] for b in built]
        keys = [(b[0][0], b[1]) for b in built if b[1]]
        try:
            if keys or len(rows) > self.max_rows:
                db.execute("BEGIN IMMEDIATE")
                _insert(db, INSERT_REQUEST, rows, self.max_rows)
                if keys:
                    _insert(db, INSERT_KEYS, keys, self.max_rows)
                db.execute("COMMIT")
            elif rows:
                _insert(db, INSERT_REQUEST, rows, self.max_rows)  # autocommit: one statement
            return len(rows)
        except sqlite3.OperationalError:
            _rollback(db)
            raise
        except sqlite3.Error:  # a constraint (e.g. an id taken by another worker)
            _rollback(db)
        return self._write_one_by_one(built)

    def _build_all(self, items: list) -> list[Built]:
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


def _insert(db: sqlite3.Connection, sql: str, rows: list[tuple], most: int) -> None:
    """Insert ``rows`` with multi-row ``VALUES`` statements of up to ``most`` rows each: SQLite
    writes each statement in one call, so the GIL changes hands once per statement instead of
    once per row. Their SQL is made once per size (``_multi``) and SQLite keeps each prepared
    (``STATEMENT_CACHE``)."""
    i, n = 0, len(rows)
    while i < n:
        size = min(most, n - i)
        db.execute(_multi(sql, size), list(_flat(rows[i : i + size])))
        i += size


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
