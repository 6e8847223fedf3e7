"""Schema v2: integer arrival ids, the hash-token key index, one writer round trip per batch, and the
migration of a v1 file."""

from __future__ import annotations

import sqlite3
import time

import pytest

from proxy.logstore import LogFilter
from proxy.logstore.rows import capture
from proxy.logstore.schema import (
    ID_SHIFT,
    MIGRATIONS,
    SCHEMA_VERSION,
    _statements,
    created_at,
    id_at,
    parse_id,
    stored_keys,
    trace_key,
    user_key,
)
from proxy.traceids import new_trace_id

from .conftest import make_call, make_outcome, make_reply, record


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


async def test_one_round_trip_per_batch(open_logs):
    store = await open_logs(batch_size=500, linger_ms=50)
    real = store.writer._sink.write
    trips = 0

    async def counting(batch, **kw):
        nonlocal trips
        trips += 1
        return await real(batch, **kw)

    store.writer._sink.write = counting  # type: ignore[method-assign]
    for _ in range(200):
        await record(store, attempts=2)
    await store.flush()
    assert trips == 1 and store.writer.batches == 1 and store.writer.written == 200


async def test_an_id_taken_by_another_worker_moves_the_row(open_logs):
    store = await open_logs(batch_size=10)
    for i in range(3):
        call = make_call(trace_id=f"dup-{i}", attempts=2)
        captured = capture(call, make_reply(), make_outcome(latency_ms=float(i)))
        store.writer.offer((1 << 40, *captured[1:]))  # all three with one id
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


def _tokens(path, text: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT count(*) FROM request_keys WHERE request_keys MATCH ?", [text]
        ).fetchone()[0]
    finally:
        conn.close()


async def test_made_up_trace_ids_are_found_by_time_without_a_key_token(store):
    made = new_trace_id()
    await record(store, trace_id=made)
    await record(store, trace_id=made, metadata={"_user": "carol"})
    # The same id sent again by a client ten minutes later: far from its time → a token.
    reused = new_trace_id(time.time_ns() - 600 * 10**9)
    await record(store, trace_id=reused)
    await record(store, trace_id="client-chosen")
    await store.flush()
    assert _tokens(store.path, trace_key(made)) == 0
    assert _tokens(store.path, trace_key(reused)) == 1
    assert _tokens(store.path, trace_key("client-chosen")) == 1
    assert _tokens(store.path, user_key("carol")) == 1
    assert len((await store.list(LogFilter(trace_id=made))).data) == 2
    assert [e.trace_id for e in (await store.list(LogFilter(trace_id=reused))).data] == [reused]
    both = LogFilter(trace_id=made, metadata={"_user": "carol"})
    assert [e.meta_user for e in (await store.list(both)).data] == ["carol"]
    other = new_trace_id()
    assert (await store.list(LogFilter(trace_id=other))).data == []


async def test_a_trace_is_found_by_time_and_by_token_at_once(store):
    """One trace: the gateway's first request (no token) and a follow-up the client sent a
    minute later with the id it got back (a token)."""
    tid = new_trace_id()
    await record(store, trace_id=tid)
    call = make_call(trace_id=tid)
    rep, out = make_reply(), make_outcome(latency_ms=1.0)
    captured = list(capture(call, rep, out))
    captured[0] += (60 * 10**6) << ID_SHIFT  # arrived a minute later
    store.writer.offer(tuple(captured))
    await store.flush()
    assert _tokens(store.path, trace_key(tid)) == 1
    assert len((await store.list(LogFilter(trace_id=tid))).data) == 2


async def test_prune_leaves_a_sound_key_index(open_logs):
    store = await open_logs(retention_days=1)
    for i in range(6):
        await record(store, trace_id=new_trace_id() if i % 2 else f"c-{i}", attempts=2)
    await store.flush()
    assert await store.writer.prune(now=time.time() + 2 * 86400) == 6
    await store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO request_keys (request_keys) VALUES ('integrity-check')")
    assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0
    conn.close()


async def test_attempts_live_in_detail_and_the_view_shows_them_as_rows(store):
    call = await record(store, attempts=3)
    await store.flush()
    page = await store.list(LogFilter(trace_id=call.trace_id))
    got = await store.get(page.data[0].id)
    assert got is not None and [a.status for a in got.attempts] == [500, 500, 200]
    conn = sqlite3.connect(store.path)
    rows = conn.execute(
        "SELECT a.seq, a.status, a.url, a.provider FROM attempts a "
        "JOIN requests r ON r.id = a.request_id WHERE r.trace_id = ? ORDER BY a.seq",
        [call.trace_id],
    ).fetchall()
    conn.close()
    assert rows == [
        (i, s, "https://api.example.test/v1/chat/completions", "openai")
        for i, s in enumerate([500, 500, 200])
    ]


async def test_a_v2_file_is_migrated(tmp_path, open_logs):
    path = tmp_path / "logs.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("lockgate_keys", 2, stored_keys)
    for script in MIGRATIONS[:2]:
        for stmt in _statements(script):
            conn.execute(stmt)
    conn.execute("PRAGMA user_version=2")
    rid = id_at(time.time())
    conn.execute(
        "INSERT INTO requests (id, trace_id, provider, model, endpoint, status, latency_ms, "
        "complete, detail) VALUES (?, 'v2-a', 'openai', 'm', 'chat', 200, 3.0, 1, ?)",
        (rid, '{"method":"POST","path":"/chat/completions","attempt_count":2}'),
    )
    conn.execute("INSERT INTO request_keys (rowid, k) VALUES (?, ?)", (rid, trace_key("v2-a")))
    for seq, status in ((1, 200), (0, 502)):
        conn.execute(
            "INSERT INTO attempts VALUES (?, ?, 'config', 'openai', 'https://u.test/', ?, "
            "1.5, 1.0, NULL, 1.0)",
            (rid, seq, status),
        )
    conn.close()
    store = await open_logs(tmp_path)
    page = await store.list(LogFilter(trace_id="v2-a"))
    got = await store.get(page.data[0].id)
    assert got is not None and [(a.seq, a.status) for a in got.attempts] == [(0, 502), (1, 200)]
    assert got.method == "POST" and got.attempt_count == 2


async def test_rows_of_made_trace_ids_get_no_trace_token_and_prune_cleanly(open_logs):
    store = await open_logs(retention_days=1)
    calls = []
    for i in range(4):
        now = time.time_ns()
        call = make_call(trace_id=new_trace_id(now), metadata={"_user": "eve"} if i % 2 else None)
        call.arrived_ns, call.trace_made = now, True
        calls.append(call)
        store.writer.offer(capture(call, make_reply(), make_outcome()))
    await store.flush()
    assert _tokens(store.path, user_key("eve")) == 2
    assert all(_tokens(store.path, trace_key(c.trace_id)) == 0 for c in calls)
    for c in calls:
        page = await store.list(LogFilter(trace_id=c.trace_id))
        assert [e.trace_id for e in page.data] == [c.trace_id]
        assert abs(page.data[0].created_at * 1e9 - c.arrived_ns) < 2000
    assert await store.writer.prune(now=time.time() + 2 * 86400) == 4
    await store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO request_keys (request_keys) VALUES ('integrity-check')")
    conn.close()
    assert _tokens(store.path, user_key("eve")) == 0


def test_time_bounds_out_of_range_are_clamped_or_refused():
    from proxy.logstore.query import QueryError, filter_from_params, list_sql
    from proxy.logstore.schema import ID_SHIFT, MAX_ID_US, id_at

    assert id_at(1e308) == MAX_ID_US << ID_SHIFT  # fits SQLite's signed 64-bit integers
    assert id_at(-1e308) == 0 and id_at(float("nan")) == 0
    f = filter_from_params({"until": "1e308", "since": "99999999999999d"})
    sql, args = list_sql(f, limit=5)
    assert all(-(2**63) <= a < 2**63 for a in args if isinstance(a, int))
    for bad in ("nan", "inf", "-inf", "1e400"):
        with pytest.raises(QueryError, match="until"):
            filter_from_params({"until": bad})
