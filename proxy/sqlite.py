"""Opening the gateway's SQLite files the same way everywhere (WAL, waits instead of errors).

Several worker processes open the same files at start-up. Switching a new file to WAL needs a
lock that SQLite does not wait for with busy_timeout, so the switch is retried briefly here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 5000


async def open_sqlite(path: str, *pragmas: str, **connect: Any) -> aiosqlite.Connection:
    """Connect, wait up to 5 s on locks, WAL journal, synchronous=NORMAL, then ``pragmas``."""
    conn = await aiosqlite.connect(path, **connect)
    try:
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        for attempt in range(BUSY_TIMEOUT_MS // 20):
            try:
                await conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == BUSY_TIMEOUT_MS // 20 - 1:
                    raise
                await asyncio.sleep(0.02)
        for pragma in ("synchronous=NORMAL", *pragmas):
            await conn.execute(f"PRAGMA {pragma}")
    except BaseException:
        await conn.close()
        raise
    return conn


def configure_sync(conn: sqlite3.Connection) -> None:
    """`open_sqlite`'s settings on a plain sqlite3 connection (called off the event loop)."""
    import time

    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    for attempt in range(BUSY_TIMEOUT_MS // 20):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == BUSY_TIMEOUT_MS // 20 - 1:
                raise
            time.sleep(0.02)
    conn.execute("PRAGMA synchronous=NORMAL")
