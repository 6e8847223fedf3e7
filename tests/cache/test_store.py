from __future__ import annotations

import time

from cache.entries import Entry, keep_headers, new_id
from cache.store import EntryStore


def entry(
    key: str,
    *,
    ns: str = "",
    body: bytes = b'{"a":1}',
    ttl: float = 100,
    created: float | None = None,
    scope: str | None = None,
) -> Entry:
    now = time.time() if created is None else created
    return Entry(
        id=new_id(),
        key=key,
        namespace=ns,
        scope=scope,
        created=now,
        expires=now + ttl,
        last_used=now,
        status=200,
        headers=[("content-type", "application/json")],
        body=body,
    )


async def test_put_is_visible_at_once_and_survives_restart(tmp_path):
    path = tmp_path / "c.sqlite3"
    s = await EntryStore.open(path)
    s.put(entry("k1", body=b'{"x":1}'))
    assert s.get_memory("k1", time.time()).body == b'{"x":1}'
    await s.close()
    s = await EntryStore.open(path)
    assert s.get_memory("k1", time.time()) is None  # memory is empty after a restart …
    got = await s.get("k1")  # … SQLite has it
    assert got is not None and got.body == b'{"x":1}' and got.status == 200
    assert s.get_memory("k1", time.time()) is not None  # and it is cached in memory again
    await s.close()


async def test_expired_entries_are_not_served_and_are_swept(tmp_path):
    s = await EntryStore.open(tmp_path / "c.sqlite3")
    removed = []
    s.on_removed = removed.extend
    s.put(entry("old", ttl=0.05, scope="sc"))
    s.put(entry("new", ttl=100))
    await s.flush()
    later = time.time() + 1
    assert await s.get("old", later) is None
    assert await s.sweep(later) == 1
    assert [scope for _, scope in removed] == ["sc"]
    assert (await s.stats()).entries == 1
    await s.close()


async def test_lru_eviction_by_entries_keeps_recently_used(tmp_path):
    s = await EntryStore.open(tmp_path / "c.sqlite3", max_entries=3)
    t0 = time.time()
    for i in range(3):
        e = entry(f"k{i}", created=t0 + i)
        s.put(e)
    await s.flush()
    s.get_memory("k0", t0 + 10)  # k0 is now the most recently used
    s.put(entry("k3", created=t0 + 11))
    await s.flush()
    st = await s.stats()
    assert st.entries == 3 and st.evicted == 1
    assert await s.get("k1") is None  # the least recently used went
    assert await s.get("k0") is not None
    await s.close()


async def test_byte_cap_evicts(tmp_path):
    s = await EntryStore.open(tmp_path / "c.sqlite3", max_bytes=5_000)
    for i in range(10):
        s.put(entry(f"k{i}", body=b"x" * 1000, created=time.time() + i))
        await s.flush()
    st = await s.stats()
    assert st.bytes <= 5_000 and st.entries < 10
    assert await s.get("k9") is not None
    await s.close()


async def test_memory_lru_is_bounded(tmp_path):
    s = await EntryStore.open(tmp_path / "c.sqlite3", memory_entries=2)
    for i in range(5):
        s.put(entry(f"k{i}"))
    assert (await s.stats()).memory_entries == 2
    await s.flush()
    assert await s.get("k0") is not None  # still on disk
    await s.close()


async def test_clear_by_namespace(tmp_path):
    s = await EntryStore.open(tmp_path / "c.sqlite3")
    s.put(entry("a1", ns="a"))
    s.put(entry("a2", ns="a"))
    s.put(entry("b1", ns="b"))
    assert await s.clear("a") == 2
    assert await s.get("a1") is None and await s.get("b1") is not None
    assert await s.clear() == 1
    assert (await s.stats()).entries == 0
    await s.close()


def test_only_the_content_type_is_kept():
    kept = keep_headers(
        [
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer x"),
            ("x-ratelimit-remaining", "1"),
            ("set-cookie", "s=1"),
        ]
    )
    assert kept == [("Content-Type", "application/json")]
