"""Schema v2: integer arrival ids, the hash-token key index, one thread hop per batch, and the
migration of a v1 file."""

from __future__ import annotations

import sqlite3
import time

from proxy.logstore import LogFilter
from proxy.logstore.schema import MIGRATIONS, SCHEMA_VERSION, created_at, parse_id, trace_key

from .conftest import record


async def test_ids_sort_by_arrival_and_carry_the_time(store):
    before = time.time()
    await record(store, trace_id="slow", latency_ms=2000.0)
    await record(store, trace_id="fast", latency_ms=1.0)
    await store.flush()
    page = await store.list(LogFilter())
    assert [e.trace_id for e in page.data] == ["fast", "slow"]  # newest arrival first
    slow = page.data[1]
    assert len(slow.id) == 16 and parse_id(slow.id) is not None
    assert abs(slow.created_at - (before - 2.0)) < 0.5
    assert created_at(parse_id(slow.id)) == slow.created_at


async def test_one_thread_hop_per_batch(open_logs):
    store = await open_logs(batch_size=500, linger_ms=50)
    conn = store.writer._conn
    hops = 0
    real = conn._execute

    async def counting(fn, *a, **kw):
        nonlocal hops
        hops += 1
        return await real(fn, *a, **kw)

    conn._execute = counting  # type: ignore[method-assign]
    for _ in range(200):
        await record(store, attempts=2)
    await store.flush()
    assert hops == 1 and store.writer.batches == 1 and store.writer.written == 200


async def test_an_id_taken_by_another_worker_moves_the_row(open_logs):
    store = await open_logs(batch_size=10)
    real_build = store.writer._build

    def same_id(captured):
        row, keys, attempts = real_build(captured)
        rid = 1 << 40
        return (rid, *row[1:]), keys, [(rid, *a[1:]) for a in attempts]

    store.writer._build = same_id  # type: ignore[method-assign]
    for i in range(3):
        await record(store, trace_id=f"dup-{i}", attempts=2)
    await store.flush()
    page = await store.list(LogFilter())
    assert sorted(e.trace_id for e in page.data) == ["dup-0", "dup-1", "dup-2"]
    assert len({e.id for e in page.data}) == 3
    for e in page.data:
        got = await store.get(e.id)
        assert got is not None and len(got.attempts) == 2
    assert store.writer.failures == 0


async def test_trace_lookup_checks_the_value_behind_the_hash(store):
    a, b = "plumless", "buckeroo"  # the same CRC-32
    assert trace_key(a) == trace_key(b)
    await record(store, trace_id=a)
    await record(store, trace_id=b)
    await record(store, trace_id="other", metadata={"_user": "alice"})
    await store.flush()
    assert [e.trace_id for e in (await store.list(LogFilter(trace_id=a))).data] == [a]
    assert [e.trace_id for e in (await store.list(LogFilter(trace_id=b))).data] == [b]
    alice = await store.list(LogFilter(metadata={"_user": "alice"}))
    assert [e.trace_id for e in alice.data] == ["other"]
    assert (await store.list(LogFilter(metadata={"_user": "bob"}))).data == []


async def test_prune_removes_keys_too(open_logs):
    store = await open_logs(retention_days=1)
    for i in range(5):
        await record(store, trace_id=f"old-{i}", attempts=2)
    await store.flush()
    assert await store.writer.prune(now=time.time() + 2 * 86400) == 5
    await store.close()
    conn = sqlite3.connect(store.path)
    n = conn.execute(
        "SELECT count(*) FROM request_keys WHERE request_keys MATCH ?", [trace_key("old-1")]
    ).fetchone()[0]
    assert n == 0


V1_ROW = (
    "INSERT INTO requests (id, trace_id, created_at, method, path, endpoint, provider, model, "
    "target_path, attempt_count, status, latency_ms, ttfb_ms, streamed, complete, "
    "prompt_tokens, completion_tokens, total_tokens, cost, metadata, meta_user, error, "
    "bytes_in, bytes_out, request_body, response_body) VALUES "
    "(?, ?, ?, 'POST', '/v1/chat/completions', 'chat', 'openai', 'gpt-4o-mini', 'config', 1, "
    "?, 12.5, 3.0, ?, 1, 5, 7, 12, 0.001, ?, ?, NULL, 10, 20, x'7b7d', x'5b5d')"
)


async def test_a_v1_file_is_migrated(tmp_path, open_logs):
    path = tmp_path / "logs.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
    t0 = 1_700_000_000.0
    for i in range(3):
        rid = f"{int((t0 + i) * 1e9):016x}{i:08x}"
        conn.execute(
            V1_ROW,
            (rid, f"v1-{i}", t0 + i, 200 if i else 503, i % 2, '{"_user":"ann"}', "ann"),
        )
        conn.execute(
            "INSERT INTO attempts VALUES (?, 0, 'config', 'openai', 'https://u.test/', ?, "
            "12.0, 3.0, NULL, ?)",
            (rid, 200 if i else 503, t0 + i),
        )
    conn.execute("INSERT INTO feedback VALUES ('f1', 'v1-2', 5, 1.0, NULL, ?, ?)", (t0, t0))
    conn.close()

    store = await open_logs(tmp_path)
    page = await store.list(LogFilter())
    assert [e.trace_id for e in page.data] == ["v1-2", "v1-1", "v1-0"]
    e = page.data[0]
    assert e.created_at == t0 + 2 and e.streamed is False and e.method == "POST"
    assert (e.total_tokens, e.meta_user, e.metadata) == (12, "ann", {"_user": "ann"})
    assert page.data[1].streamed is True
    got = await store.get(e.id)
    assert got is not None and got.attempts[0].url == "https://u.test/"
    assert got.feedback[0].value == 5 and got.request_body == "{}"
    assert [x.trace_id for x in (await store.list(LogFilter(trace_id="v1-1"))).data] == ["v1-1"]
    assert len((await store.list(LogFilter(metadata={"_user": "ann"}))).data) == 3
    assert len((await store.list(LogFilter(since=t0 + 1, until=t0 + 2))).data) == 1
    await record(store, trace_id="new")
    await store.flush()
    assert (await store.list(LogFilter(trace_id="new"))).data[0].trace_id == "new"
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
