"""Streams: relayed chunk by chunk, cancelled when the client leaves, cut when the upstream dies."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp_sse_client import client as sse_client

from tests.conftest import flush_logs, log_rows, openai_headers
from tests.fakes.upstream import BIG_FILE

STREAM = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def test_sse_stream_relayed_event_by_event(gateway, upstream):
    events = []
    async with sse_client.EventSource(
        gateway.url + "/v1/chat/completions",
        option={"method": "POST"},
        headers=openai_headers(**{"Content-Type": "application/json"}),
        data=json.dumps(STREAM),
        reconnection_time=0,
        max_connect_retry=0,
    ) as source:
        async for event in source:
            events.append(event.data)
            if event.data == "[DONE]":
                break
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["usage"]["total_tokens"] > 0


async def test_stream_bytes_identical_and_headers(gateway, upstream, http):
    direct = b""
    async with http.post(upstream.url + "/v1/chat/completions", json=STREAM) as r:
        direct = await r.read()
    async with http.post(
        gateway.url + "/v1/chat/completions", json=STREAM, headers=openai_headers()
    ) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["X-Accel-Buffering"] == "no"
        assert r.headers["x-portkey-trace-id"]
        assert await r.read() == direct


async def test_chunks_arrive_before_stream_ends(gateway, upstream, http):
    upstream.fake.script.append("slowstream:40")
    loop = asyncio.get_running_loop()
    async with http.post(
        gateway.url + "/v1/chat/completions", json=STREAM, headers=openai_headers()
    ) as r:
        t0 = loop.time()
        first = await r.content.readany()
        t_first = loop.time() - t0
        assert first.startswith(b"data: ")
        await r.read()
        t_all = loop.time() - t0
    assert t_first < t_all / 4  # the first chunk was not held back until the end


async def test_client_disconnect_cancels_upstream(gateway, upstream, http):
    upstream.fake.script.append("slowstream:30")
    r = await http.post(gateway.url + "/v1/chat/completions", json=STREAM, headers=openai_headers())
    await r.content.readany()
    r.close()  # the client walks away mid-stream
    for _ in range(100):
        if upstream.fake.cancelled:
            break
        await asyncio.sleep(0.02)
    assert upstream.fake.cancelled == 1


async def test_upstream_cut_ends_client_stream_with_error(gateway, upstream, http):
    upstream.fake.script.append("cut")
    async with http.post(
        gateway.url + "/v1/chat/completions", json=STREAM, headers=openai_headers()
    ) as r:
        assert r.status == 200
        try:
            await asyncio.wait_for(r.read(), timeout=5)
            raised = False
        except aiohttp.ClientPayloadError:
            raised = True
    assert raised


async def test_completions_and_anthropic_streams(gateway, upstream, http):
    async with http.post(
        gateway.url + "/v1/completions",
        json={"model": "m", "prompt": "x", "stream": True},
        headers=openai_headers(),
    ) as r:
        body = await r.read()
    assert body.endswith(b"data: [DONE]\n\n")
    async with http.post(
        gateway.url + "/v1/messages",
        json={"model": "c", "max_tokens": 5, "stream": True, "messages": []},
        headers={"x-portkey-provider": "anthropic", "x-api-key": "k"},
    ) as r:
        body = await r.read()
    assert b"event: message_stop" in body


async def test_a_large_download_is_relayed_as_it_comes_not_held(gateway, upstream, http):
    """A 3 MiB body with a Content-Length (a file's content) reaches the client before the
    upstream has sent it all, and whole."""
    upstream.fake.script.append("bigfile:1000")
    t0 = time.perf_counter()
    async with http.get(gateway.url + "/v1/files/file-1/content", headers=openai_headers()) as r:
        assert r.status == 200 and r.content_length == len(BIG_FILE)
        first = await r.content.read(1 << 16)
        first_at = time.perf_counter() - t0
        body = first + await r.read()
    assert first_at < 0.8  # the first bytes came before the upstream's 1 s pause ended
    assert body == BIG_FILE


async def test_a_cut_download_is_short_for_the_client_and_logged_incomplete(
    gateway, upstream, http
):
    upstream.fake.script.append("bigcut")
    async with http.get(gateway.url + "/v1/files/file-1/content", headers=openai_headers()) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    await flush_logs(gateway)
    row = (await log_rows(http, gateway))[0]
    assert row["complete"] is False and "upstream stream failed" in row["error"]
