"""Realtime (WebSocket) sessions through the gateway: the real OpenAI SDK and aiohttp clients
against the fake's Realtime-shaped socket, on loopback."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl

import aiohttp
import openai
import pytest

from tests.conftest import flush_logs, log_rows, openai_headers
from tests.fakes.realtime import REALTIME_USAGE


def _ws_url(gateway, query: str = "?model=gpt-realtime") -> str:
    return gateway.url.replace("http://", "ws://") + "/v1/realtime" + query


async def _log_rows(gateway, http, **filters):
    await flush_logs(gateway)
    return await log_rows(http, gateway, **filters)


async def _session_rows(gateway, http, **filters):
    """The rows once there are some: a session's row is recorded after both sides closed."""
    rows = []
    for _ in range(50):
        rows = await _log_rows(gateway, http, **filters)
        if rows:
            break
        await asyncio.sleep(0.05)
    return rows


async def test_openai_sdk_realtime_session(gateway, upstream, http):
    client = openai.AsyncOpenAI(
        base_url=gateway.url + "/v1",
        api_key="sk-realtime-key",
        default_headers={"x-portkey-provider": "openai", "x-portkey-api-key": "pk-gateway"},
        max_retries=0,
    )
    seen = []
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await conn.response.create()
        async for event in conn:
            seen.append(event.type)
            if event.type == "response.done":
                break
    assert seen[0] == "session.created"
    assert "response.output_text.delta" in seen and seen[-1] == "response.done"

    up = upstream.fake.seen[-1]
    assert up.path == "/v1/realtime" and "model=gpt-realtime" in up.query
    assert up.headers["Authorization"] == "Bearer sk-realtime-key"
    assert not [h for h in up.headers if h.lower().startswith("x-portkey-")]

    row = (await _session_rows(gateway, http, provider="openai"))[0]
    assert row["status"] == 101 and row["path"] == "/realtime"
    assert row["model"] == "gpt-realtime"
    assert row["streamed"] is True and row["complete"] is True
    assert row["prompt_tokens"] == REALTIME_USAGE["input_tokens"]
    assert row["completion_tokens"] == REALTIME_USAGE["output_tokens"]
    assert row["total_tokens"] == REALTIME_USAGE["total_tokens"]
    assert "sk-realtime-key" not in json.dumps(row) and "pk-gateway" not in json.dumps(row)


async def test_frames_relayed_both_ways_text_and_binary(gateway, upstream, http):
    async with http.ws_connect(
        _ws_url(gateway), headers=openai_headers(), protocols=("realtime",)
    ) as ws:
        assert ws.protocol == "realtime"  # the upstream's choice, passed on
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "session.created"
        await ws.send_json({"type": "conversation.item.create", "n": 1})
        assert (await ws.receive_json(timeout=5))["event"] == {
            "type": "conversation.item.create",
            "n": 1,
        }
        blob = bytes(range(256)) * 40
        await ws.send_bytes(blob)
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == blob
    for _ in range(50):
        if upstream.fake.closes:
            break
        await asyncio.sleep(0.02)
    assert upstream.fake.closes == [1000]  # the client's close reached the upstream


async def test_upstream_close_code_reaches_client(gateway, upstream, http):
    async with http.ws_connect(_ws_url(gateway), headers=openai_headers()) as ws:
        await ws.receive_json(timeout=5)
        await ws.send_json({"type": "close.me", "code": 4001})
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001
    rows = await _session_rows(gateway, http, status=101)
    assert rows[0]["complete"] is False
    assert "closed by the upstream with code 4001" in rows[0]["error"]


async def test_refused_handshake_falls_back_to_the_next_target(make_gateway, upstream, http):
    gateway = await make_gateway()
    upstream.fake.script.append("503")
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "api_key": "sk-first"},
            {"provider": "groq", "api_key": "sk-second"},
        ],
    }
    async with http.ws_connect(
        _ws_url(gateway), headers={"x-portkey-config": json.dumps(config)}
    ) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "session.created"
        assert ws._response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert [s.headers["Authorization"] for s in upstream.fake.seen] == [
        "Bearer sk-first",
        "Bearer sk-second",
    ]


async def test_refused_handshake_is_an_http_json_error(gateway, upstream, http):
    upstream.fake.script.append("401")
    async with http.get(
        gateway.url + "/v1/realtime?model=m",
        headers={
            **openai_headers(),
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as r:
        assert r.status == 401
        body = await r.json()
    assert "refused the WebSocket upgrade: 401" in body["error"]["message"]
    assert r.headers["x-portkey-trace-id"]
    rows = await _log_rows(gateway, http, status=401)
    assert rows and "refused" in rows[0]["error"]


async def test_unreachable_upstream_is_502(gateway, http):
    headers = openai_headers(**{"x-portkey-custom-host": "http://127.0.0.1:1/v1"})
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(_ws_url(gateway), headers=headers)
    assert info.value.status == 502


async def test_handshake_timeout_is_504(make_gateway, upstream, http):
    gateway = await make_gateway(upstream_timeout_s=0.2)
    upstream.fake.script.append("slow:1000")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(_ws_url(gateway), headers=openai_headers())
    assert info.value.status == 504


async def test_unknown_provider_is_400_before_any_upgrade(gateway, http):
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(_ws_url(gateway), headers=openai_headers(provider="nope"))
    assert info.value.status == 400


async def test_plain_get_is_proxied_as_usual(gateway, upstream, http):
    async with http.get(gateway.url + "/v1/realtime", headers=openai_headers()) as r:
        assert r.status == 200
        assert (await r.json())["object"] == "list"
    assert upstream.fake.seen[-1].path == "/v1/realtime"


async def test_client_leaving_closes_the_upstream(gateway, upstream, http):
    ws = await http.ws_connect(_ws_url(gateway), headers=openai_headers())
    await ws.receive_json(timeout=5)
    ws._response.connection.transport.abort()  # gone without a close frame
    for _ in range(100):
        if upstream.fake.closes:
            break
        await asyncio.sleep(0.02)
    assert upstream.fake.closes and upstream.fake.closes[0] is not None
    rows = await _session_rows(gateway, http, status=101)
    assert rows[0]["complete"] is False


async def test_shutdown_closes_open_sessions_with_going_away(make_gateway, upstream, http):
    gateway = await make_gateway()
    ws = await http.ws_connect(_ws_url(gateway), headers=openai_headers())
    await ws.receive_json(timeout=5)
    closing = asyncio.ensure_future(gateway.close())
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1001
    await ws.close()
    await asyncio.wait_for(closing, 10)


async def test_portkey_sdk_realtime_session_with_config(gateway, upstream):
    """portkey-ai's realtime connect (2.x) sends none of the client's Portkey headers on the
    upgrade, so they go in ``extra_headers``, made by its own ``createHeaders``."""
    from portkey_ai import AsyncPortkey, createHeaders

    config = {"provider": "openai", "api_key": "sk-in-config"}
    pk = AsyncPortkey(base_url=gateway.url + "/v1", api_key="pk-local", config=config)
    headers = createHeaders(api_key="pk-local", config=config)
    seen = []
    async with pk.realtime.connect(model="gpt-realtime", extra_headers=headers) as conn:
        await conn.response.create()
        async for event in conn:
            seen.append(event.type)
            if event.type == "response.done":
                break
    assert seen[-1] == "response.done"
    up = upstream.fake.seen[-1]
    assert up.headers["Authorization"] == "Bearer sk-in-config"
    assert not [h for h in up.headers if h.lower().startswith("x-portkey-")]


async def test_quiet_session_outlives_the_stream_idle_timeout(make_gateway, upstream, http):
    """A realtime session may be silent for long (a user thinking): the HTTP streams' idle
    bound does not apply to it."""
    gateway = await make_gateway(stream_idle_timeout_s=0.2)
    async with http.ws_connect(_ws_url(gateway), headers=openai_headers()) as ws:
        await ws.receive_json(timeout=5)
        await asyncio.sleep(0.6)
        await ws.send_json({"type": "ping.me"})
        assert (await ws.receive_json(timeout=5))["type"] == "echo"


async def test_azure_realtime_names_the_deployment_in_the_query(gateway, upstream, http):
    headers = {
        "x-portkey-provider": "azure-openai",
        "Authorization": "Bearer az-key",
        "x-portkey-custom-host": upstream.url + "/openai",
        "x-portkey-azure-deployment-id": "rt-dep",
        "x-portkey-azure-api-version": "2024-10-01-preview",
    }
    url = gateway.url.replace("http://", "ws://") + "/v1/realtime"
    async with http.ws_connect(url, headers=headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "session.created"
    seen = upstream.fake.seen[-1]
    assert seen.path == "/openai/realtime"
    assert dict(parse_qsl(seen.query)) == {
        "api-version": "2024-10-01-preview",
        "deployment": "rt-dep",
    }
    assert seen.headers["api-key"] == "az-key" and "Authorization" not in seen.headers


async def test_sessions_in_metrics_apart_from_request_latency(gateway, upstream, http):
    async def scrape() -> str:
        async with http.get(gateway.url + "/metrics") as r:
            return await r.text()

    async with http.ws_connect(_ws_url(gateway), headers=openai_headers()) as ws:
        await ws.receive_json(timeout=5)
        text = await scrape()
        open_now = [
            ln for ln in text.splitlines() if ln.startswith("lockgate_realtime_sessions_open")
        ]
        assert open_now and open_now[0].endswith(" 1")
    for _ in range(50):
        text = await scrape()
        if 'lockgate_realtime_sessions_total{provider="openai"' in text:
            break
        await asyncio.sleep(0.02)
    assert 'lockgate_realtime_sessions_total{provider="openai"' in text
    assert 'lockgate_requests_total{provider="openai",status="101"' in text
    assert 'lockgate_request_duration_seconds_count{provider="openai"' not in text


async def test_a_silent_peer_is_found_by_the_heartbeat(make_gateway, upstream, http):
    """A client that stops answering pings (gone without a close) ends its session, and the
    upstream side is closed too."""
    gateway = await make_gateway(realtime_heartbeat_s=0.2)
    ws = await http.ws_connect(_ws_url(gateway), headers=openai_headers(), autoping=False)
    await ws.receive_json(timeout=5)
    for _ in range(100):  # pings arrive and go unanswered
        if upstream.fake.closes:
            break
        await asyncio.sleep(0.02)
    assert upstream.fake.closes, "the upstream side stayed open"
    await ws.close()


async def test_a_frame_over_the_body_limit_closes_with_1009(make_gateway, upstream, http):
    gateway = await make_gateway(max_body_bytes=1024)
    async with http.ws_connect(_ws_url(gateway), headers=openai_headers()) as ws:
        await ws.receive_json(timeout=5)
        await ws.send_str("x" * 2048)
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1009


async def test_a_malformed_upgrade_is_a_400_before_any_upstream_call(gateway, upstream, http):
    headers = {**openai_headers(), "Upgrade": "websocket", "Connection": "Upgrade"}
    async with http.get(gateway.url + "/v1/realtime?model=m", headers=headers) as r:
        assert r.status == 400  # no Sec-WebSocket-Key / Version
        assert "WebSocket" in (await r.json())["message"]
    assert upstream.fake.seen == []


async def test_sessions_count_in_analytics_but_not_in_its_latency(gateway, upstream, http):
    async with http.ws_connect(_ws_url(gateway), headers=openai_headers()) as ws:
        await ws.receive_json(timeout=5)
        await asyncio.sleep(0.3)  # a session far longer than the request below
    async with http.post(
        gateway.url + "/v1/chat/completions", json={"model": "m"}, headers=openai_headers()
    ) as r:
        assert r.status == 200
    await _session_rows(gateway, http, status=101)
    async with http.get(gateway.url + "/v1/analytics", params={"group_by": "status"}) as r:
        groups = {g["key"]: g for g in (await r.json())["groups"]}
    assert groups["101"]["requests"] == 1 and groups["101"]["latency_p50_ms"] is None
    assert groups["200"]["latency_p99_ms"] < 300
