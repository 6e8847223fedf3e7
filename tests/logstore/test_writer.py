"""The writer: every recorded request becomes exactly one row, even under a burst, a close
right after it, or a disk slower than the requests."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time

import pytest

from proxy.logstore import LogFilter, StoreClosed, batches
from proxy.logstore import writer as writer_module
from proxy.logstore.rows import capture
from proxy.logstore.schema import SCHEMA_VERSION
from proxy.logstore.sinks import PER_THREAD_NICE
from proxy.traceids import new_trace_id

from .conftest import make_call, make_outcome, make_reply, record


def count(path: str, table: str = "requests") -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


async def test_concurrent_records_make_exactly_n_rows(open_logs):
    store = await open_logs(batch_size=64)
    n = 2000
    await asyncio.gather(*(record(store, attempts=2) for _ in range(n)))
    await store.flush()
    assert count(store.path) == n
    assert count(store.path, "attempts") == 2 * n
    assert store.writer.batches < n  # rows were batched, not written one by one
    await store.close()
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(DISTINCT id) FROM requests").fetchone()[0] == n
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_close_right_after_a_burst_loses_nothing(open_logs):
    store = await open_logs(queue_size=100000, batch_size=50)
    for _ in range(3000):
        await record(store)
    assert store.queue_depth > 0  # nothing was written on the request path
    await store.close()
    assert count(store.path) == 3000
    with pytest.raises(StoreClosed):
        await record(store)


async def test_full_queue_pushes_back_instead_of_dropping(open_logs):
    store = await open_logs(queue_size=4, batch_size=2)
    real_write = store.writer.write
    max_depth = 0

    async def slow_write(batch, **kw):
        nonlocal max_depth
        max_depth = max(max_depth, store.queue_depth)
        await asyncio.sleep(0.02)
        return await real_write(batch, **kw)

    store.writer.write = slow_write  # type: ignore[method-assign]
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(record(store)) for _ in range(40)]
    await asyncio.sleep(0.05)
    assert sum(t.done() for t in tasks) < 40  # callers are waiting on the full queue
    await asyncio.gather(*tasks)
    await store.close()
    assert count(store.path) == 40
    assert max_depth <= 4
    # 40 rows, 2 per 20 ms batch: the callers were held back for most of ~0.4 s.
    assert time.perf_counter() - started > 0.3


async def test_transient_write_error_is_retried_not_dropped(open_logs):
    store = await open_logs(batch_size=10)
    real_write = store.writer.write
    fails = 2

    async def flaky(batch, **kw):
        nonlocal fails
        if fails:
            fails -= 1
            raise sqlite3.OperationalError("database is locked")
        return await real_write(batch, **kw)

    store.writer.write = flaky  # type: ignore[method-assign]
    for _ in range(5):
        await record(store)
    await store.close()
    assert count(store.path) == 5
    assert store.writer.failures == 2


async def test_a_row_sqlite_rejects_is_skipped_alone(open_logs):
    store = await open_logs(batch_size=10, linger_ms=50)
    for n in range(7):
        captured = capture(make_call(), make_reply(), make_outcome())
        if n == 2:
            captured = (captured[0], None, *captured[2:])  # trace_id is NOT NULL
        if n == 4:
            captured = captured[:5]  # a capture the builder cannot read: a bug, one row lost
        store.writer.offer(captured)
    await store.close()
    assert count(store.path) == 5
    assert store.writer.failures == 2


async def test_reopen_keeps_rows_and_schema(open_logs):
    store = await open_logs()
    await record(store)
    await store.close()
    store = await open_logs()
    await record(store)
    await store.close()
    assert count(store.path) == 2


async def test_retention_prunes_old_rows_and_their_attempts(open_logs):
    store = await open_logs(retention_days=1)
    for _ in range(5):
        await record(store, attempts=2)
    await store.flush()
    assert await store.writer.prune() == 0  # all fresh
    assert await store.writer.prune(now=time.time() + 2 * 86400) == 5
    await store.close()
    assert count(store.path) == 0 and count(store.path, "attempts") == 0


async def _statements(store) -> list[str]:
    """Start recording the SQL the writer's connections run (each on its own thread)."""
    sink = store.writer._sink
    seen: list[str] = []

    def note(sql: str) -> None:
        words = sql.split()
        if words[0] in ("BEGIN", "COMMIT"):
            seen.append(words[0])
        elif words[0] == "INSERT" and words[2] in ("requests", "request_keys"):
            seen.append(f"INSERT {words[2]}")  # (FTS5 runs statements of its own: not these)

    for conn, _ in sink._lanes:
        await conn._execute(conn._conn.set_trace_callback, note)
    return seen


def _made(n: int = 0) -> tuple:
    """A captured request whose trace id the gateway made (its row needs no key token)."""
    call = make_call(trace_id=new_trace_id())
    call.trace_made = True
    return capture(call, make_reply(), make_outcome(latency_ms=float(n)))


async def test_a_batch_without_key_tokens_is_one_statement(open_logs):
    """One statement per batch: each statement is a GIL hand-over the event loop pays for."""
    store = await open_logs(linger_ms=50)
    seen = await _statements(store)
    for n in range(40):
        store.writer.offer(_made(n))
    await store.flush()
    assert seen == ["INSERT requests"] and store.writer.batches == 1
    seen.clear()
    store.writer.offer(_made())
    await record(store, trace_id="client-sent", metadata={"_user": "ann"})  # needs tokens
    await store.flush()
    assert seen == ["BEGIN", "INSERT requests", "INSERT request_keys", "COMMIT"]
    await store.close()
    assert count(store.path) == 42


async def test_a_batch_over_one_statement_is_one_transaction(open_logs):
    store = await open_logs(batch_size=300, linger_ms=50)
    seen = await _statements(store)
    for n in range(300):
        store.writer.offer(_made(n))
    await store.flush()
    assert seen == ["BEGIN", *["INSERT requests"] * 5, "COMMIT"]  # 4 × 64 + 44 rows
    assert count(store.path) == 300


async def test_an_id_collision_in_a_one_statement_batch_moves_the_row(open_logs):
    store = await open_logs(linger_ms=50)
    for n in range(3):
        store.writer.offer((1 << 40, *_made(n)[1:]))  # one id for all three
    await store.flush()
    page = await store.list(LogFilter())
    assert len({e.id for e in page.data}) == 3 and store.writer.failures == 0


async def _thread_nice(conn) -> int:
    """The nice value of the thread that runs ``conn`` (Linux keeps one per thread)."""

    def read() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    return await conn._execute(read)


async def _writes_by_thread(store) -> list[str]:
    """Start recording which of the sink's threads runs each ``INSERT INTO requests``."""
    sink = store.writer._sink
    seen: list[str] = []
    for name, (conn, _) in zip(("niced", "urgent"), sink._lanes, strict=True):

        def note(sql: str, name: str = name) -> None:
            if sql.startswith("INSERT INTO requests"):
                seen.append(name)

        await conn._execute(conn._conn.set_trace_callback, note)
    return seen


@pytest.mark.skipif(not PER_THREAD_NICE, reason="per-thread nice values are Linux's")
async def test_the_writer_thread_is_niced_and_the_urgent_one_is_not(open_logs):
    store = await open_logs(writer_nice=19)
    sink = store.writer._sink
    assert sink.niced
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert await _thread_nice(sink._lanes[0][0]) == 19
    assert await _thread_nice(sink._lanes[1][0]) == own
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the loop's


@pytest.mark.skipif(not PER_THREAD_NICE, reason="per-thread nice values are Linux's")
async def test_idle_time_batches_go_niced_and_a_backlog_or_a_flush_goes_urgent(open_logs):
    store = await open_logs(batch_size=10, linger_ms=20)
    seen = await _writes_by_thread(store)
    for n in range(3):  # a light load: the linger ends before the batch fills
        store.writer.offer(_made(n))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if store.writer.unwritten == 0:
            break
    assert seen == ["niced"] and store.writer.urgent_batches == 0
    for n in range(25):  # a burst: full batches are waiting, idle time cannot be counted on
        store.writer.offer(_made(n))
    await store.flush()
    assert seen[1:] == ["urgent"] * 3  # 10 + 10 full, then 5 that a flush waits for
    assert store.writer.urgent_batches == 3 and store.writer.written == 28
    assert count(store.path) == 28


async def test_with_nice_zero_one_thread_writes_everything(open_logs):
    store = await open_logs(writer_nice=0, batch_size=10)
    assert not store.writer._sink.niced and len(store.writer._sink._lanes) == 1
    await asyncio.gather(*(record(store) for _ in range(35)))
    await store.close()
    assert count(store.path) == 35


async def test_a_retention_backlog_is_pruned_a_chunk_per_batch(open_logs, tmp_path, monkeypatch):
    """Retention switched on over a big file: the writer deletes one chunk after each batch,
    so new rows keep being written while the backlog goes, and stops once it is gone."""
    monkeypatch.setattr(batches, "PRUNE_CHUNK", 5)
    monkeypatch.setattr(writer_module, "PRUNE_CHUNK", 5)
    old = await open_logs(tmp_path / "logs")
    three_days_ago = time.time_ns() - 3 * 86400 * 10**9
    for _ in range(12):
        call = make_call()
        call.arrived_ns = three_days_ago
        old.writer.offer(capture(call, make_reply(), make_outcome()))
    await old.close()
    assert count(old.path) == 12

    store = await open_logs(tmp_path / "logs", retention_days=1, batch_size=10)
    sink, steps = store.writer._sink, []
    real_write, real_prune = sink.write, sink.prune

    async def write(batch, **kw):
        steps.append(f"write {len(batch)}")
        return await real_write(batch, **kw)

    async def prune(cutoff):
        n = await real_prune(cutoff)
        steps.append(f"prune {n}")
        return n

    sink.write, sink.prune = write, prune
    for _ in range(4):
        await record(store)
        await store.flush()
    await store.close()
    # 5 old rows after each batch, until a short chunk ends the pass for an hour.
    assert steps == ["write 1", "prune 5", "write 1", "prune 5", "write 1", "prune 2", "write 1"]
    assert store.writer._next_prune > time.monotonic() + 3000
    assert count(store.path) == 4
