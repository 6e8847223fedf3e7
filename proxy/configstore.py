"""Saved configs: ``pc-…`` ids → configs, every version kept, in the gateway's SQLite file.

Tables (this module's own; other features keep theirs in the same ``<data_dir>/lockgate.db``):
``configs`` (one row per id, pointing at its current version) and ``config_versions`` (the body
of every version, as the client sent it). A config is validated on create and update with the
same `config_from_object` + `resolve` the request path uses, so a saved config never fails a
request for a reason that could have been caught when it was saved.

The request path reads from memory: `ConfigStore.lookup` reads the disk the first time it meets
an id (a miss is remembered too) and never again while that entry stands. A write through the
store drops the entry at once. Writes from elsewhere (another ``--workers`` process, the
``lockgate configs`` CLI) are noticed by a background poll of ``(id, version)`` every
``refresh_s`` seconds (2 s): for that long another process may still serve the previous version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import msgspec

from proxy.config import ConfigError, Target, config_from_object, resolve
from proxy.masking import keep_masked
from proxy.sqlite import open_sqlite
from proxy.tasks import spawn

if TYPE_CHECKING:
    from aiohttp import web

    from proxy.chain import Layer
    from proxy.services import Services

log = logging.getLogger("lockgate.configs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS config_versions (
    config_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (config_id, version)
);
"""
_ID = re.compile(r"^pc-[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_MAX_CACHED = 10_000
_UNKNOWN = object()


class StoreError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SavedConfig(msgspec.Struct, kw_only=True):
    id: str
    name: str
    version: int
    created_at: float
    updated_at: float
    config: dict[str, Any] | None = None
    """The body as saved (keys in clear: mask with `masked` before showing it)."""


class Version(msgspec.Struct, kw_only=True):
    version: int
    name: str
    created_at: float


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "lockgate.db"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24].strip("-") or "config"


class ConfigStore:
    def __init__(self, path: str | Path, known_providers: Any, refresh_s: float = 2.0) -> None:
        self.path = Path(path)
        self.known_providers = known_providers
        self.refresh_s = refresh_s
        self._db: aiosqlite.Connection | None = None
        self._write = asyncio.Lock()
        self._cache: dict[str, tuple[int, Target] | None] = {}
        self._generation = 0
        self._poller: asyncio.Task[None] | None = None

    async def open(self, *, poll: bool = False) -> ConfigStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await open_sqlite(self.path, isolation_level=None)
        await self._db.executescript(_SCHEMA)
        if poll:
            self._poller = spawn(self._poll(), name="configstore-refresh")
        return self

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(503, "the config store is not open")
        return self._db

    def validate(self, raw: Any) -> Target:
        """The config as the request path will see it; `StoreError` 400 naming the bad path."""
        if isinstance(raw, str):
            try:
                raw = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                raise StoreError(400, "Invalid config: not valid JSON") from None
        try:
            target = config_from_object(raw)
            resolve(target, known_providers=self.known_providers)
        except ConfigError as e:
            raise StoreError(400, f"Invalid config: {e}") from None
        return target

    # -- writes -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction (BEGIN IMMEDIATE: other processes wait, busy_timeout)."""
        db = self.db
        async with self._write:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def create(
        self, raw: Any, *, name: str | None = None, config_id: str | None = None
    ) -> SavedConfig:
        self.validate(raw)
        if config_id is not None and not _ID.match(config_id):
            raise StoreError(400, "id: expected pc- followed by letters, digits, '-' or '_'")
        now = time.time()
        for _ in range(5):
            cid = config_id or f"pc-{_slug(name or 'config')}-{secrets.token_hex(3)}"
            try:
                async with self._transaction() as db:
                    await db.execute(
                        "INSERT INTO configs VALUES (?, ?, 1, ?, ?)", (cid, name or cid, now, now)
                    )
                    await db.execute(*_version_row(cid, 1, name or cid, raw, now))
                break
            except aiosqlite.IntegrityError:
                if config_id is not None:
                    raise StoreError(409, f"a config with id '{cid}' exists") from None
        else:  # pragma: no cover - five collisions among 16M suffixes
            raise StoreError(500, "could not allocate a config id")
        self._forget(cid)
        return SavedConfig(
            id=cid, name=name or cid, version=1, created_at=now, updated_at=now, config=raw
        )

    async def update(self, config_id: str, raw: Any, *, name: str | None = None) -> SavedConfig:
        """A new version; a secret sent back masked (as shown) keeps its stored value."""
        async with self._transaction() as db:
            current = await self.get(config_id)
            if current is None:
                raise StoreError(404, f"no saved config with id '{config_id}'")
            raw = keep_masked(raw, current.config)
            self.validate(raw)
            now, version, name = time.time(), current.version + 1, name or current.name
            await db.execute(
                "UPDATE configs SET version = ?, name = ?, updated_at = ? WHERE id = ?",
                (version, name, now, config_id),
            )
            await db.execute(*_version_row(config_id, version, name, raw, now))
        self._forget(config_id)
        current.version, current.name, current.updated_at, current.config = version, name, now, raw
        return current

    async def delete(self, config_id: str) -> bool:
        """Remove the config and its history; False when there was none."""
        async with self._transaction() as db:
            cur = await db.execute("DELETE FROM configs WHERE id = ?", (config_id,))
            found = cur.rowcount > 0
            await db.execute("DELETE FROM config_versions WHERE config_id = ?", (config_id,))
        self._forget(config_id)
        return found

    # -- reads --------------------------------------------------------------------------------

    async def get(self, config_id: str, version: int | None = None) -> SavedConfig | None:
        sql = (
            "SELECT c.id, v.name, v.version, c.created_at, v.created_at, v.body FROM configs c "
            "JOIN config_versions v ON v.config_id = c.id AND v.version = "
            + ("?" if version is not None else "c.version")
            + " WHERE c.id = ?"
        )
        args = (version, config_id) if version is not None else (config_id,)
        async with self.db.execute(sql, args) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return SavedConfig(
            id=row[0],
            name=row[1],
            version=row[2],
            created_at=row[3],
            updated_at=row[4],
            config=msgspec.json.decode(row[5]),
        )

    async def list(self) -> list[SavedConfig]:
        sql = (
            "SELECT id, name, version, created_at, updated_at FROM configs ORDER BY created_at, id"
        )
        async with self.db.execute(sql) as cur:
            rows = await cur.fetchall()
        return [
            SavedConfig(id=r[0], name=r[1], version=r[2], created_at=r[3], updated_at=r[4])
            for r in rows
        ]

    async def versions(self, config_id: str) -> list[Version] | None:
        sql = (
            "SELECT version, name, created_at FROM config_versions "
            "WHERE config_id = ? ORDER BY version"
        )
        async with self.db.execute(sql, (config_id,)) as cur:
            rows = await cur.fetchall()
        return [Version(version=r[0], name=r[1], created_at=r[2]) for r in rows] or None

    # -- the request path ---------------------------------------------------------------------

    async def lookup(self, config_id: str) -> Target | None:
        """The saved config for ``x-portkey-config: pc-…``; from memory after the first read."""
        hit = self._cache.get(config_id, _UNKNOWN)
        if hit is not _UNKNOWN:
            return hit[1] if hit is not None else None  # type: ignore[index]
        generation = self._generation
        saved = await self.get(config_id)
        entry = None if saved is None else (saved.version, config_from_object(saved.config))
        if generation == self._generation:  # no write raced this read
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[config_id] = entry
        return entry[1] if entry is not None else None

    def _forget(self, config_id: str) -> None:
        self._generation += 1
        self._cache.pop(config_id, None)

    async def refresh(self) -> None:
        """Drop cached entries that another process changed, deleted or created."""
        async with self.db.execute("SELECT id, version FROM configs") as cur:
            current = dict(await cur.fetchall())
        for cid, entry in list(self._cache.items()):
            if (entry is None and cid in current) or (
                entry is not None and current.get(cid) != entry[0]
            ):
                self._forget(cid)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing saved configs failed")


def _version_row(
    cid: str, version: int, name: str, raw: Any, now: float
) -> tuple[str, tuple[Any, ...]]:
    body = msgspec.json.encode(raw).decode()
    return ("INSERT INTO config_versions VALUES (?, ?, ?, ?, ?)", (cid, version, name, body, now))


async def saved_configs(
    app: web.Application, services: Services, layers: list[Layer]
) -> AsyncIterator[None]:
    """Feature: open the store, answer ``pc-…`` ids from it, serve it to the admin routes."""
    store = ConfigStore(db_path(services.settings.data_dir), services.providers)
    await store.open(poll=True)
    services.saved_config = store.lookup
    services.extras["configs"] = store
    try:
        yield
    finally:
        await store.close()
