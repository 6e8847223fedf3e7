"""The benchmark's fake upstream, over real loopback sockets: answers, stream framing, faults,
and the load client that drives it."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bench import loadclient, payloads, upstream

CHUNKS = 5


@pytest.fixture
async def fake():
    runner, port = await upstream.start("127.0.0.1", 0, chunks=CHUNKS)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        await runner.cleanup()


async def test_chat_completion(fake):
    base, _ = fake
    async with (
        aiohttp.ClientSession() as s,
        s.post(base + payloads.CHAT_PATH, data=payloads.CHAT) as r,
    ):
        assert r.status == 200
        assert r.content_type == "application/json"
        raw = await r.read()
    assert 400 <= len(raw) <= 500
    answer = json.loads(raw)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize("body", [payloads.CHAT_STREAM, payloads.CHAT[:-1] + b', "stream": true}'])
async def test_stream(fake, body):
    base, _ = fake
    async with aiohttp.ClientSession() as s, s.post(base + payloads.CHAT_PATH, data=body) as r:
        assert r.status == 200
        assert r.content_type == "text/event-stream"
        text = (await r.read()).decode()
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert len(chunks) == CHUNKS + 2  # role chunk, content chunks, finish chunk
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (payloads.FAIL_PREFIX + payloads.CHAT_PATH, payloads.CHAT),
        (payloads.CHAT_PATH, payloads.chat_body(model=payloads.FAIL_MODEL)),
    ],
)
async def test_fault_503(fake, path, body):
    base, _ = fake
    async with aiohttp.ClientSession() as s, s.post(base + path, data=body) as r:
        assert r.status == 503
        assert "error" in await r.json()


@pytest.mark.parametrize("stream", [False, True])
async def test_loadclient_against_fake(fake, stream):
    _, port = fake
    body = payloads.CHAT_STREAM if stream else payloads.CHAT
    result = await loadclient.run_load(
        port,
        payloads.CHAT_PATH,
        {"Authorization": "Bearer x"},
        body,
        stream=stream,
        connections=2,
        seconds=0.3,
    )
    assert result["errors"] == 0, result["last_error"]
    assert result["requests"] > 10
    assert 0 < result["ttfb_p50_ms"] <= result["p50_ms"]
