"""The HTTP API over a real store and a real aiohttp test server: filters, pagination,
detail, export, analytics."""

from __future__ import annotations

import csv
import io
import sqlite3
import time

import msgspec
import pytest
from aiohttp import web

from proxy.admin_logs import STORE, add_routes, log_store_ctx
from proxy.logstore import LogSettings

from .conftest import answer, record


@pytest.fixture
async def seeded(open_logs):
    """30 requests: 3 providers, some errors, a cached one, varied latency and metadata.
    Latency falls as i rises, so arrival (= now - latency) still rises with i."""
    store = await open_logs(bodies="full")
    for i in range(30):
        provider = ("openai", "anthropic", "groq")[i % 3]
        await record(
            store,
            provider=provider,
            model=f"m-{provider}",
            trace_id=f"t{i}",
            status=500 if i % 10 == 9 else 200,
            latency_ms=float(30 - i),
            metadata={"_user": f"u{i % 2}", "team": "a" if i < 20 else "b"},
            body=None if i % 10 != 9 else b'{"error":{"message":"boom"}}',
            cache="simple" if i == 0 else None,
            cache_status="HIT" if i == 0 else "DISABLED",
        )
    await store.flush()
    return store


@pytest.fixture
async def client(seeded, aiohttp_client):
    app = web.Application()
    add_routes(app, seeded)
    return await aiohttp_client(app)


async def get_json(client, url, status=200):
    r = await client.get(url)
    assert r.status == status, await r.text()
    return await r.json()


async def test_list_newest_first_and_paginated(client):
    page = await get_json(client, "/v1/logs?limit=12")
    assert [e["trace_id"] for e in page["data"]] == [f"t{i}" for i in range(29, 17, -1)]
    assert page["has_more"] and "request_body" not in page["data"][0]
    seen = [e["trace_id"] for e in page["data"]]
    while page["has_more"]:
        page = await get_json(client, f"/v1/logs?limit=12&cursor={page['next_cursor']}")
        seen += [e["trace_id"] for e in page["data"]]
    assert seen == [f"t{i}" for i in range(29, -1, -1)]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ("provider=groq", {f"t{i}" for i in range(2, 30, 3)}),
        ("status=500", {"t9", "t19", "t29"}),
        ("status=5xx&provider=openai", {"t9"}),
        ("trace_id=t7", {"t7"}),
        ("model=m-anthropic&metadata._user=u1", {f"t{i}" for i in range(1, 30, 6)}),
        ("metadata.team=b&metadata._user=u0", {"t20", "t22", "t24", "t26", "t28"}),
        ("cache_status=HIT", {"t0"}),
    ],
)
async def test_filters(client, query, expect):
    page = await get_json(client, f"/v1/logs?limit=100&{query}")
    assert {e["trace_id"] for e in page["data"]} == expect


async def test_time_range(client, seeded):
    now = time.time()
    assert len((await get_json(client, f"/v1/logs?since={now - 60}&limit=100"))["data"]) == 30
    assert (await get_json(client, "/v1/logs?until=2001-01-01T00:00:00Z"))["data"] == []
    assert len((await get_json(client, "/v1/logs?since=1h&limit=100"))["data"]) == 30


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=abc", "status:"),
        ("limit=0", "limit:"),
        ("since=yesterday", "since:"),
        ("metadata.bad%20key=x", "metadata.bad key:"),
    ],
)
async def test_bad_filters_name_the_parameter(client, query, field):
    body = await get_json(client, f"/v1/logs?{query}", status=400)
    assert body["status"] == "failure" and body["message"].startswith(field)


async def test_detail_has_attempts_bodies_and_feedback(client):
    trace = (await get_json(client, "/v1/logs?trace_id=t3"))["data"][0]
    r = await client.post("/v1/feedback", json={"trace_id": "t3", "value": 1})
    assert r.status == 200
    d = await get_json(client, f"/v1/logs/{trace['id']}")
    assert d["attempts"][0]["url"].startswith("https://api.example.test/")
    assert d["feedback"][0]["value"] == 1
    assert msgspec.json.decode(d["response_body"]) == msgspec.json.decode(answer())
    assert d["total_tokens"] == 18
    missing = await get_json(client, "/v1/logs/nope", status=404)
    assert missing["message"].startswith("id:")


async def test_export_jsonl_and_csv(client):
    r = await client.get("/v1/logs/export?format=jsonl&provider=openai")
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    lines = (await r.read()).splitlines()
    assert len(lines) == 10 and msgspec.json.decode(lines[0])["provider"] == "openai"
    r = await client.get("/v1/logs/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert len(rows) == 30 and rows[-1]["trace_id"] == "t0"
    assert msgspec.json.decode(rows[0]["metadata"])["team"] == "b"
    assert (await client.get("/v1/logs/export?format=xml")).status == 400


async def test_export_streams_past_one_page(open_logs, aiohttp_client):
    store = await open_logs()
    for _ in range(2500):
        await record(store)
    await store.flush()
    app = web.Application()
    add_routes(app, store)
    client = await aiohttp_client(app)
    r = await client.get("/v1/logs/export")
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert len((await r.read()).splitlines()) == 2500


async def test_analytics(client):
    a = await get_json(client, "/v1/analytics")
    t = a["totals"]
    assert t["requests"] == 30 and t["errors"] == 3 and t["error_rate"] == pytest.approx(0.1)
    # latencies 1..30 ms, nearest rank
    assert (t["latency_p50_ms"], t["latency_p90_ms"], t["latency_p99_ms"]) == (15, 27, 30)
    assert t["total_tokens"] == 27 * 18 and t["cache_hits"] == 1
    # priced by the model the answer names (gpt-4o-mini-…); the cache hit costs nothing
    assert t["cost"] == pytest.approx(26 * (11 * 0.15 + 7 * 0.60) / 1e6)
    g = await get_json(client, "/v1/analytics?group_by=provider")
    by = {x["key"]: x for x in g["groups"]}
    assert set(by) == {"openai", "anthropic", "groq"}
    assert by["openai"]["errors"] == 1 and by["openai"]["requests"] == 10
    g = await get_json(client, "/v1/analytics?group_by=metadata.team&provider=groq")
    assert {x["key"]: x["requests"] for x in g["groups"]} == {"a": 6, "b": 4}
    bad = await get_json(client, "/v1/analytics?group_by=colour", status=400)
    assert bad["message"].startswith("group_by:")


async def test_analytics_feedback_summary(client):
    for trace, value, weight in (("t0", 1, 1.0), ("t0", -1, 0.5), ("t1", 10, 1.0)):
        r = await client.post(
            "/v1/feedback", json={"trace_id": trace, "value": value, "weight": weight}
        )
        assert r.status == 200
    a = await get_json(client, "/v1/analytics?group_by=provider")
    fb = a["totals"]["feedback"]
    assert fb["count"] == 3 and fb["positive"] == 2 and fb["negative"] == 1
    assert fb["avg_value"] == pytest.approx(10 / 3)
    assert fb["weighted_avg_value"] == pytest.approx((1 - 0.5 + 10) / 2.5)
    by = {x["key"]: x["feedback"] for x in a["groups"]}
    assert by["openai"]["count"] == 2 and by["anthropic"]["count"] == 1
    assert by["groq"]["count"] == 0


async def test_cleanup_ctx_opens_and_drains(tmp_path, aiohttp_client):
    app = web.Application()
    app.cleanup_ctx.append(log_store_ctx(tmp_path, LogSettings()))
    add_routes(app)
    client = await aiohttp_client(app)
    store = app[STORE]
    for _ in range(50):
        await record(store)
    assert (await client.get("/v1/logs")).status == 200
    await client.close()
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 50


async def test_bad_cursor_and_id_are_client_errors(client):
    body = await get_json(client, "/v1/logs?cursor=zzz", status=400)
    assert body["message"].startswith("cursor:")
    await get_json(client, "/v1/logs/0000000000000000", status=404)
