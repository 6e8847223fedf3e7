"""Tables of the log store and their migrations (``PRAGMA user_version``).

Each migration is a script run once, in order, inside one transaction; the version number is
the count of migrations applied. Never edit a shipped migration: append a new one.

Since v2 a row is written as cheaply as SQLite allows, because every request pays for it:

- ``requests`` is a rowid table filled in insertion order (appends only). Its ``id`` is the
  arrival time in microseconds shifted left 10 bits, plus a per-process counter: it sorts by
  arrival, ``created_at`` is derived from it, and a time range is an ``id`` range on the
  ``requests_id`` index, which grows almost only at its right edge too.
- Columns exist for what filters and analytics read; the rest of a row (spans, method, path,
  retries, ttfb, error, byte counts …) is one JSON object in ``detail``.
- Trace ids and ``metadata._user`` are looked up through ``request_keys``, an FTS5 index of
  one short hash token per key (``t`` + crc32 of the trace id, ``u`` + crc32 of the user).
  A B-tree index on random keys dirties one page per row once it outgrows the cache — that
  was most of the cost of logging; FTS5 writes each batch's tokens as one new segment and
  merges segments in the background of later writes. Queries match the token, then compare
  the real value (a hash can collide).

Since v3 a row costs one B-tree append and, for most requests, nothing more:

- Attempts are a JSON array in ``detail`` (``"attempts": [[target_path, provider, url, status,
  latency_ms, ttfb_ms, error, started_at], …]``), not rows of their own table: they are only
  ever read with their request. The ``attempts`` view shows them one row per attempt, linked by
  ``request_id``, as the table did.
- A trace id the gateway made up (`proxy.traceids`: a UUIDv7 carrying the arrival time) gets
  no ``request_keys`` token: its rows are found by the id range around that time
  (`found_by_time`). Client-supplied trace ids and ``_user`` still get their tokens.
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from typing import Any

import msgspec

from proxy.sqlite import configure_sync
from proxy.traceids import trace_time_us

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,            -- hex(arrival ns) + counter: sorts by arrival
        trace_id TEXT NOT NULL,
        span_id TEXT, parent_span_id TEXT, span_name TEXT,
        created_at REAL NOT NULL,       -- unix seconds, request arrival
        method TEXT NOT NULL, path TEXT NOT NULL, endpoint TEXT,
        provider TEXT, model TEXT, target_path TEXT,
        attempt_count INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,
        status INTEGER NOT NULL, latency_ms REAL NOT NULL, ttfb_ms REAL,
        cache_status TEXT, cache_mode TEXT,
        streamed INTEGER NOT NULL DEFAULT 0, complete INTEGER NOT NULL DEFAULT 1,
        prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
        tokens_estimated INTEGER NOT NULL DEFAULT 0,
        cost REAL,
        metadata TEXT,                  -- JSON object from x-portkey-metadata
        meta_user TEXT, meta_organisation TEXT, meta_environment TEXT, meta_prompt TEXT,
        error TEXT,
        bytes_in INTEGER, bytes_out INTEGER,
        request_body BLOB, response_body BLOB
    );
    CREATE INDEX requests_trace ON requests(trace_id);
    CREATE INDEX requests_created ON requests(created_at);
    CREATE INDEX requests_user ON requests(meta_user) WHERE meta_user IS NOT NULL;
    CREATE TABLE attempts (
        request_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        target_path TEXT, provider TEXT, url TEXT,
        status INTEGER, latency_ms REAL, ttfb_ms REAL, error TEXT, started_at REAL,
        PRIMARY KEY (request_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE feedback (
        id TEXT PRIMARY KEY,
        trace_id TEXT NOT NULL,
        value INTEGER NOT NULL,
        weight REAL NOT NULL DEFAULT 1.0,
        metadata TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX feedback_trace ON feedback(trace_id);
    """,
    # v2: integer ids, rarely filtered fields in one JSON column, hash-token key index.
    """
    CREATE TABLE requests_v2 (
        id INTEGER NOT NULL,            -- arrival µs << 10 | counter (see the module docstring)
        trace_id TEXT NOT NULL,
        provider TEXT, model TEXT, endpoint TEXT,
        status INTEGER NOT NULL, latency_ms REAL NOT NULL, complete INTEGER NOT NULL,
        cache_status TEXT,
        prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, cost REAL,
        metadata TEXT,                  -- JSON object from x-portkey-metadata
        detail TEXT NOT NULL,           -- JSON object: everything else (models.Detail)
        request_body BLOB, response_body BLOB
    );
    INSERT INTO requests_v2 (
        rowid, id, trace_id, provider, model, endpoint, status, latency_ms, complete,
        cache_status, prompt_tokens, completion_tokens, total_tokens, cost, metadata, detail,
        request_body, response_body
    )
        SELECT rowid,
               (CAST(created_at * 1000000 AS INTEGER) << 10)
                   | (ROW_NUMBER() OVER (
                          PARTITION BY CAST(created_at * 1000000 AS INTEGER) ORDER BY rowid
                      ) - 1),
               trace_id, provider, model, endpoint, status, latency_ms, complete, cache_status,
               prompt_tokens, completion_tokens, total_tokens, cost, metadata,
               json_object(
                   'span_id', span_id, 'parent_span_id', parent_span_id,
                   'span_name', span_name, 'method', method, 'path', path,
                   'target_path', target_path, 'attempt_count', attempt_count,
                   'retries', retries, 'ttfb_ms', ttfb_ms, 'cache_mode', cache_mode,
                   'streamed', json(CASE WHEN streamed THEN 'true' ELSE 'false' END),
                   'tokens_estimated',
                   json(CASE WHEN tokens_estimated THEN 'true' ELSE 'false' END),
                   'error', error, 'bytes_in', bytes_in, 'bytes_out', bytes_out
               ),
               request_body, response_body
        FROM requests ORDER BY rowid;
    CREATE TABLE attempts_v2 (
        request_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        target_path TEXT, provider TEXT, url TEXT,
        status INTEGER, latency_ms REAL, ttfb_ms REAL, error TEXT, started_at REAL,
        PRIMARY KEY (request_id, seq)
    ) WITHOUT ROWID;
    INSERT INTO attempts_v2
        SELECT n.id, a.seq, a.target_path, a.provider, a.url, a.status, a.latency_ms,
               a.ttfb_ms, a.error, a.started_at
        FROM attempts a
        JOIN requests o ON o.id = a.request_id
        JOIN requests_v2 n ON n.rowid = o.rowid;
    CREATE VIRTUAL TABLE request_keys USING fts5(k, content='', detail=none, tokenize='ascii');
    INSERT INTO request_keys (rowid, k)
        SELECT id, lockgate_keys(trace_id, metadata) FROM requests_v2;
    DROP TABLE attempts;
    DROP TABLE requests;
    ALTER TABLE requests_v2 RENAME TO requests;
    ALTER TABLE attempts_v2 RENAME TO attempts;
    CREATE UNIQUE INDEX requests_id ON requests(id);
    """,
    # v3: attempts inside ``detail``, shown by a view; no key token for time-carrying trace ids.
    """
    UPDATE requests SET detail = json_set(detail, '$.attempts', json((
        SELECT json_group_array(json_array(
                   target_path, provider, url, status, latency_ms, ttfb_ms, error, started_at))
        FROM (SELECT * FROM attempts a WHERE a.request_id = requests.id ORDER BY a.seq)
    )))
    WHERE id IN (SELECT request_id FROM attempts);
    DROP TABLE attempts;
    CREATE VIEW attempts AS
        SELECT r.id AS request_id, CAST(a.key AS INTEGER) AS seq,
               json_extract(a.value, '$[0]') AS target_path,
               json_extract(a.value, '$[1]') AS provider,
               json_extract(a.value, '$[2]') AS url,
               json_extract(a.value, '$[3]') AS status,
               json_extract(a.value, '$[4]') AS latency_ms,
               json_extract(a.value, '$[5]') AS ttfb_ms,
               json_extract(a.value, '$[6]') AS error,
               json_extract(a.value, '$[7]') AS started_at
        FROM requests r, json_each(r.detail, '$.attempts') a;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

REQUEST_COLUMNS = (
    "id",
    "trace_id",
    "provider",
    "model",
    "endpoint",
    "status",
    "latency_ms",
    "complete",
    "cache_status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "metadata",
    "detail",
    "request_body",
    "response_body",
)
"""The stored columns of ``requests`` (v2), in the order the writer binds them."""
ATTEMPT_COLUMNS = (
    "request_id",
    "seq",
    "target_path",
    "provider",
    "url",
    "status",
    "latency_ms",
    "ttfb_ms",
    "error",
    "started_at",
)
ID_SHIFT = 10
"""``id = arrival_µs << ID_SHIFT | counter``."""
_json_get = msgspec.json.Decoder(dict[str, Any])


MAX_ID_US = (1 << (63 - ID_SHIFT)) - 1
"""The latest arrival (µs) an id can hold: ids are signed 64-bit SQLite integers."""


def id_at(t: float) -> int:
    """The smallest id of a request that arrived at or after unix time ``t`` (clamped to the
    ids that can exist, so any finite time is a valid bound)."""
    us = t * 1_000_000
    if not us > 0:  # also NaN
        return 0
    return min(math.ceil(us), MAX_ID_US) << ID_SHIFT if us < MAX_ID_US else MAX_ID_US << ID_SHIFT


def created_at(rid: int) -> float:
    return (rid >> ID_SHIFT) / 1_000_000


def format_id(rid: int) -> str:
    """The id as the API shows it: 16 hex digits, which sort like the numbers."""
    return f"{rid:016x}"


def parse_id(text: str) -> int | None:
    if len(text) != 16:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def trace_key(trace_id: str) -> str:
    return f"t{zlib.crc32(trace_id.encode('utf-8', 'surrogatepass')):08x}"


def user_key(user: str) -> str:
    return f"u{zlib.crc32(user.encode('utf-8', 'surrogatepass')):08x}"


def meta_str(v: Any) -> str | None:
    """A metadata value as text (what ``meta_user`` & co. show): JSON unless a string."""
    if v is None:
        return None
    return v if isinstance(v, str) else msgspec.json.encode(v).decode()


TRACE_WINDOW_US = 1_000_000
"""A trace id whose own time (`trace_time_us`) is this close to its row's arrival is found by
time, not by a key token."""


def found_by_time(trace_id: str, rid: int) -> bool:
    """True when the row ``rid`` of ``trace_id`` needs no trace token (see the module doc)."""
    t = trace_time_us(trace_id)
    return t is not None and abs(t - (rid >> ID_SHIFT)) <= TRACE_WINDOW_US


def id_window(trace_id: str) -> tuple[int, int] | None:
    """The id range that holds every row `found_by_time` keeps out of ``request_keys`` for
    ``trace_id`` (with a millisecond to spare), or None when the id carries no time."""
    t = trace_time_us(trace_id)
    if t is None:
        return None
    spare = TRACE_WINDOW_US + 1000
    return max(0, t - spare) << ID_SHIFT, ((t + spare + 1) << ID_SHIFT) - 1


def keys_of(trace_id: str, user: str | None, *, by_time: bool) -> str:
    """The ``request_keys`` text of one request ("" when it needs none): no trace token when
    its rows are found ``by_time`` (`found_by_time`)."""
    keys = "" if by_time else trace_key(trace_id)
    if user is not None:
        keys = f"{keys} {user_key(user)}" if keys else user_key(user)
    return keys


def user_of(metadata: str | None) -> str | None:
    """``metadata._user`` of a stored row, as text."""
    if not metadata:
        return None
    try:
        return meta_str(_json_get.decode(metadata).get("_user"))
    except (msgspec.DecodeError, AttributeError):
        return None


def stored_keys(trace_id: str, metadata: str | None, rid: int | None = None) -> str:
    """`keys_of` for a stored row (``metadata`` as stored JSON). ``rid=None`` keys every
    trace (the v2 rule, kept for the v2 migration)."""
    by_time = rid is not None and found_by_time(trace_id, rid)
    return keys_of(trace_id, user_of(metadata), by_time=by_time)


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings. WAL lets readers (API, CLI) run beside the writer;
    synchronous=NORMAL is durable across crashes of the process, and a power cut can lose
    only the last commits, never corrupt the file."""
    configure_sync(conn)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file up to ``SCHEMA_VERSION``; returns the version found before."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.create_function("lockgate_keys", 2, stored_keys, deterministic=True)
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"log store schema v{found} is newer than this build (v{SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the lock: another worker may have migrated meanwhile.
            if conn.execute("PRAGMA user_version").fetchone()[0] != version:
                conn.execute("ROLLBACK")
                continue
            for stmt in _statements(MIGRATIONS[version]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out, buf = [], ""
    for line in script.splitlines():
        buf += line.split("--", 1)[0] + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return [s for s in out if s]


def open_sync(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection (CLI, migrations), autocommit, rows as tuples."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        return conn
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    return conn
