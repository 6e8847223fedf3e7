"""The request log through the real gateway: one row per request, whatever happened."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3

import aiohttp
from portkey_ai import Portkey

from tests.conftest import flush_logs, log_rows, openai_headers
from tests.e2e.test_server import start, stop

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-planted-secret-7f3a9"


async def test_concurrent_requests_give_exactly_n_rows(gateway, upstream, http):
    n = 60

    async def one(i: int) -> int:
        body = CHAT | ({"stream": True} if i % 3 == 0 else {})
        async with http.post(
            gateway.url + "/v1/chat/completions",
            json=body,
            headers=openai_headers(**{"x-portkey-trace-id": f"t-{i}"}),
        ) as r:
            await r.read()
            return r.status

    statuses = await asyncio.gather(*(one(i) for i in range(n)))
    assert statuses == [200] * n
    await flush_logs(gateway)
    rows = await log_rows(http, gateway, limit=200)
    assert len(rows) == n
    assert {r["trace_id"] for r in rows} == {f"t-{i}" for i in range(n)}
    streamed = [r for r in rows if r["streamed"]]
    assert len(streamed) == n // 3
    assert all(r["total_tokens"] == 13 and not r["tokens_estimated"] for r in streamed)
    plain = [r for r in rows if not r["streamed"]][0]
    assert (plain["provider"], plain["model"], plain["total_tokens"]) == (
        "openai",
        "gpt-4o-mini",
        15,
    )


async def test_failures_are_logged_and_keys_never_stored(gateway, upstream, http, tmp_path):
    cases = [
        ({"x-portkey-provider": "nope", "Authorization": f"Bearer {SECRET}"}, CHAT, None),
        (openai_headers(key=SECRET, **{"x-portkey-api-key": SECRET}), CHAT, "503"),
        (openai_headers(key=SECRET), CHAT | {"stream": True}, "cut"),
        (
            {
                "x-portkey-config": json.dumps({"provider": "openai", "api_key": SECRET}),
                "x-portkey-metadata": '{"_user": "alice", "team": "ml"}',
            },
            CHAT,
            None,
        ),
    ]
    for headers, body, fault in cases:
        if fault:
            upstream.fake.script.append(fault)
        async with http.post(gateway.url + "/v1/chat/completions", json=body, headers=headers) as r:
            try:
                await r.read()
            except aiohttp.ClientPayloadError:
                pass
    await flush_logs(gateway)
    rows = await log_rows(http, gateway)
    by_status = sorted((r["status"], r["complete"], bool(r["error"])) for r in rows)
    assert by_status == [
        (200, False, True),
        (200, True, False),
        (400, False, True),
        (503, True, False),
    ]
    alice = await log_rows(http, gateway, **{"metadata._user": "alice"})
    assert len(alice) == 1 and alice[0]["metadata"]["team"] == "ml"
    for f in (tmp_path / "data").iterdir():
        assert SECRET.encode() not in f.read_bytes(), f


async def test_feedback_from_portkey_sdk_joins_the_trace(gateway, upstream, http):
    async with http.post(
        gateway.url + "/v1/chat/completions",
        json=CHAT,
        headers=openai_headers(**{"x-portkey-trace-id": "trace-fb"}),
    ) as r:
        assert r.status == 200

    def send():
        pk = Portkey(base_url=gateway.url + "/v1", api_key="pk-local")
        return pk.feedback.create(trace_id="trace-fb", value=7, weight=0.5)

    res = await asyncio.to_thread(send)
    assert res.status == "success" and len(res.feedback_ids) == 1
    await flush_logs(gateway)
    row = (await log_rows(http, gateway, trace_id="trace-fb"))[0]
    async with http.get(f"{gateway.url}/v1/logs/{row['id']}") as r:
        entry = await r.json()
    assert entry["feedback"][0]["value"] == 7
    async with http.post(gateway.url + "/v1/feedback", json={"trace_id": "x", "value": 11}) as r:
        assert r.status == 400 and "value" in (await r.json())["message"]


async def test_metrics_count_requests(gateway, upstream, http):
    for _ in range(3):
        async with http.post(
            gateway.url + "/v1/chat/completions", json=CHAT, headers=openai_headers()
        ) as r:
            await r.read()
    async with http.get(gateway.url + "/metrics") as r:
        text = await r.text()
    line = [
        x
        for x in text.splitlines()
        if x.startswith("lockgate_requests_total{") and 'status="200"' in x
    ][0]
    assert float(line.rsplit(" ", 1)[1]) == 3


async def test_sigterm_right_after_a_burst_loses_no_row(tmp_path, upstream):
    proc, url = await start(tmp_path, upstream.url)
    n = 200
    async with aiohttp.ClientSession() as http:

        async def one(i):
            async with http.post(
                url + "/v1/chat/completions",
                json=CHAT,
                headers={"x-portkey-provider": "anyscale", "x-portkey-trace-id": f"burst-{i}"},
            ) as r:
                await r.read()

        await asyncio.gather(*(one(i) for i in range(n)))
    proc.send_signal(signal.SIGTERM)
    assert await stop(proc) == 0
    db = next((tmp_path / "data").glob("logs*.sqlite3"))
    with sqlite3.connect(db) as conn:
        count = conn.execute("select count(*) from requests where trace_id like 'burst-%'")
        assert count.fetchone()[0] == n


async def test_a_trace_id_the_gateway_made_finds_its_rows(gateway, upstream, http):
    import uuid

    from proxy.handler import SERVICES
    from proxy.logstore.schema import trace_key

    made = []
    for meta in (None, {"_user": "dora"}):
        extra = {"x-portkey-metadata": json.dumps(meta)} if meta else {}
        async with http.post(
            gateway.url + "/v1/chat/completions", json=CHAT, headers=openai_headers(**extra)
        ) as r:
            assert r.status == 200
            made.append(r.headers["x-portkey-trace-id"])
    assert all(uuid.UUID(t).version == 7 for t in made) and made[0] != made[1]
    # A client sending one of them back groups its request into that trace.
    async with http.post(
        gateway.url + "/v1/chat/completions",
        json=CHAT,
        headers=openai_headers(**{"x-portkey-trace-id": made[0]}),
    ) as r:
        assert r.headers["x-portkey-trace-id"] == made[0]
    await flush_logs(gateway)
    assert len(await log_rows(http, gateway, trace_id=made[0])) == 2
    rows = await log_rows(http, gateway, trace_id=made[1], **{"metadata._user": "dora"})
    assert [r["meta_user"] for r in rows] == ["dora"]
    conn = sqlite3.connect(gateway.app[SERVICES].extras["logs"].path)
    tokens = conn.execute(
        "SELECT count(*) FROM request_keys WHERE request_keys MATCH ?", [trace_key(made[1])]
    ).fetchone()[0]
    conn.close()
    assert tokens == 0
