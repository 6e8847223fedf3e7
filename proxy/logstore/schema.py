"""Tables of the log store and their migrations (``PRAGMA user_version``).

Each migration is a script run once, in order, inside one transaction; the version number is
the count of migrations applied. Never edit a shipped migration: append a new one.
"""

from __future__ import annotations

import sqlite3

REQUEST_COLUMNS = (
    "id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "span_name",
    "created_at",
    "method",
    "path",
    "endpoint",
    "provider",
    "model",
    "target_path",
    "attempt_count",
    "retries",
    "status",
    "latency_ms",
    "ttfb_ms",
    "cache_status",
    "cache_mode",
    "streamed",
    "complete",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "tokens_estimated",
    "cost",
    "metadata",
    "meta_user",
    "meta_organisation",
    "meta_environment",
    "meta_prompt",
    "error",
    "bytes_in",
    "bytes_out",
    "request_body",
    "response_body",
)
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
)

SCHEMA_VERSION = len(MIGRATIONS)


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings. WAL lets readers (API, CLI) run beside the writer;
    synchronous=NORMAL is durable across crashes of the process, and a power cut can lose
    only the last commits, never corrupt the file."""
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file up to ``SCHEMA_VERSION``; returns the version found before."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
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
