"""The stored shape of a cache entry: its table, its struct, and the mapping between them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import msgspec

KEPT_HEADERS = frozenset({"content-type"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    id        INTEGER PRIMARY KEY,
    key       TEXT    NOT NULL UNIQUE,
    namespace TEXT    NOT NULL,
    scope     TEXT,
    created   REAL    NOT NULL,
    expires   REAL    NOT NULL,
    last_used REAL    NOT NULL,
    size      INTEGER NOT NULL,
    status    INTEGER NOT NULL,
    provider  TEXT    NOT NULL DEFAULT '',
    headers   BLOB    NOT NULL,
    body      BLOB    NOT NULL,
    prompt    TEXT,
    vector    BLOB
);
CREATE INDEX IF NOT EXISTS cache_entries_expires ON cache_entries (expires);
CREATE INDEX IF NOT EXISTS cache_entries_last_used ON cache_entries (last_used);
CREATE INDEX IF NOT EXISTS cache_entries_namespace ON cache_entries (namespace);
CREATE INDEX IF NOT EXISTS cache_entries_created ON cache_entries (created);
"""
COLUMNS = (
    "id, key, namespace, scope, created, expires, last_used, size, status, provider, "
    "headers, body, prompt, vector"
)


class Entry(msgspec.Struct, kw_only=True):
    """One stored answer. ``vector`` (float32 bytes) and ``prompt`` only for semantic entries."""

    id: int
    key: str
    namespace: str
    scope: str | None = None
    created: float
    expires: float
    last_used: float
    status: int
    provider: str = ""
    headers: list[tuple[str, str]]
    body: bytes
    prompt: str | None = None
    vector: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.body) + len(self.prompt or "") + len(self.vector or b"") + 200


class StoreStats(msgspec.Struct, kw_only=True):
    entries: int
    bytes: int
    memory_entries: int
    memory_bytes: int
    pending_writes: int
    evicted: int
    expired: int


def keep_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The answer headers worth replaying: the content type. Rate-limit, request-id and auth
    headers describe one upstream call and must not be served again."""
    return [(str(k), str(v)) for k, v in headers if k.lower() in KEPT_HEADERS]


def new_id() -> int:
    """A random positive int64: unique across worker processes writing the same file."""
    return secrets.randbits(62) + 1


encode_headers = msgspec.json.Encoder().encode
decode_headers = msgspec.json.Decoder(list[tuple[str, str]]).decode

Removed = list[tuple[int, str | None]]
"""(id, scope) of entries that left the store, for the semantic index."""


def row_entry(row: Any) -> Entry:
    return Entry(
        id=row[0],
        key=row[1],
        namespace=row[2],
        scope=row[3],
        created=row[4],
        expires=row[5],
        last_used=row[6],
        status=row[8],
        provider=row[9],
        headers=decode_headers(row[10]),
        body=bytes(row[11]),
        prompt=row[12],
        vector=None if row[13] is None else bytes(row[13]),
    )
