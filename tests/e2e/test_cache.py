"""The response cache through the real gateway and the fake upstream."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from tests.conftest import openai_headers


def chat(text: str, **extra) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def cached(mode: str = "simple", **extra: str) -> dict[str, str]:
    cfg = {"provider": "openai", "api_key": "sk-cache-key", "cache": {"mode": mode}}
    return {"x-portkey-config": json.dumps(cfg), **extra}


async def post(http, gw, body, headers):
    async with http.post(gw.url + "/v1/chat/completions", json=body, headers=headers) as r:
        return r.status, r.headers, await r.read()


async def flush(gw):
    from proxy.handler import SERVICES

    await gw.app[SERVICES].extras["cache"].flush()


async def test_simple_hit_skips_upstream_and_ignores_key_order(gateway, upstream, http):
    s1, h1, b1 = await post(http, gateway, chat("capital of France?"), cached())
    await flush(gateway)
    reordered = {
        "messages": [{"content": "capital of France?", "role": "user"}],
        "model": "gpt-4o-mini",
    }
    s2, h2, b2 = await post(http, gateway, reordered, cached())
    assert (s1, h1["x-portkey-cache-status"]) == (200, "MISS")
    assert (s2, h2["x-portkey-cache-status"]) == (200, "HIT")
    assert json.loads(b2) == json.loads(b1)
    assert len(upstream.fake.seen) == 1
    _, h3, _ = await post(http, gateway, chat("capital of France?"), openai_headers())
    assert h3["x-portkey-cache-status"] == "DISABLED"


async def test_only_successes_are_cached(gateway, upstream, http):
    upstream.fake.script.append("500")
    s1, _, _ = await post(http, gateway, chat("q1"), cached())
    await flush(gateway)
    s2, h2, _ = await post(http, gateway, chat("q1"), cached())
    assert (s1, s2, h2["x-portkey-cache-status"]) == (500, 200, "MISS")


async def test_force_refresh_and_namespaces(gateway, upstream, http):
    await post(http, gateway, chat("q2"), cached())
    await flush(gateway)
    _, h, _ = await post(
        http, gateway, chat("q2"), cached(**{"x-portkey-cache-force-refresh": "true"})
    )
    assert h["x-portkey-cache-status"] == "REFRESH"
    _, h, _ = await post(http, gateway, chat("q2"), cached(**{"x-portkey-cache-namespace": "b"}))
    assert h["x-portkey-cache-status"] == "MISS"
    await flush(gateway)
    _, h, _ = await post(http, gateway, chat("q2"), cached(**{"x-portkey-cache-namespace": "b"}))
    assert h["x-portkey-cache-status"] == "HIT"
    assert len(upstream.fake.seen) == 3


async def test_completed_stream_is_replayed_as_sse(gateway, upstream, http):
    body = chat("stream me", stream=True)
    _, h1, first = await post(http, gateway, body, cached())
    await flush(gateway)
    _, h2, second = await post(http, gateway, body, cached())
    assert (h1["x-portkey-cache-status"], h2["x-portkey-cache-status"]) == ("MISS", "HIT")
    assert h2["Content-Type"].startswith("text/event-stream")

    def text(raw: bytes) -> str:
        out = []
        for line in raw.decode().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for c in json.loads(line[6:])["choices"]:
                    out.append(c["delta"].get("content") or "")
        return "".join(out)

    assert text(second) == text(first) == "tok1 tok2 tok3 tok4 "
    assert second.rstrip().endswith(b"data: [DONE]")
    # the non-stream form of the same request is served from the stored stream too
    _, h3, b3 = await post(http, gateway, chat("stream me"), cached())
    assert h3["x-portkey-cache-status"] == "HIT"
    assert json.loads(b3)["choices"][0]["message"]["content"] == "tok1 tok2 tok3 tok4 "
    assert len(upstream.fake.seen) == 1


async def test_cut_stream_is_not_stored(gateway, upstream, http):
    upstream.fake.script.append("cut")
    body = chat("cut me", stream=True)
    async with http.post(gateway.url + "/v1/chat/completions", json=body, headers=cached()) as r:
        try:
            await r.read()
        except Exception:
            pass
    await flush(gateway)
    _, h, _ = await post(http, gateway, body, cached())
    assert h["x-portkey-cache-status"] == "MISS"


async def test_entries_survive_restart_and_admin_clear(make_gateway, upstream, http, tmp_path):
    gw1 = await make_gateway()
    await post(http, gw1, chat("persist"), cached())
    await flush(gw1)
    await gw1.close()
    gw2 = await make_gateway()
    _, h, _ = await post(http, gw2, chat("persist"), cached())
    assert h["x-portkey-cache-status"] == "HIT"
    async with http.get(gw2.url + "/v1/cache/stats") as r:
        assert (await r.json())["entries"] == 1
    async with http.delete(gw2.url + "/v1/cache") as r:
        assert (await r.json())["removed"] == 1
    _, h, _ = await post(http, gw2, chat("persist"), cached())
    assert h["x-portkey-cache-status"] == "MISS"
    cache_file = next((tmp_path / "data").glob("cache*.sqlite3"))
    assert b"sk-cache-key" not in cache_file.read_bytes()


async def test_cli_stats_and_clear_on_the_file(make_gateway, upstream, http, tmp_path):
    gw = await make_gateway()
    await post(http, gw, chat("cli"), cached(**{"x-portkey-cache-namespace": "ns1"}))
    await flush(gw)
    await gw.close()

    def cli(*args: str) -> str:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "proxy",
                "cache",
                *args,
                "--url",
                "http://127.0.0.1:9",
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    assert "entries         1" in await asyncio.to_thread(cli, "stats")
    out = await asyncio.to_thread(cli, "clear", "--namespace", "ns1")
    assert "removed 1 entries in namespace 'ns1'" in out


@pytest.mark.timeout(60)
async def test_semantic_hit_and_guarded_miss(make_gateway, upstream, http):
    gw = await make_gateway(cache={"embedder": "minilm"})
    for _ in range(200):  # the model loads in the background after start-up
        async with http.get(gw.url + "/v1/cache/stats") as r:
            if (await r.json())["embedder"]:
                break
        await asyncio.sleep(0.05)
    _, h, _ = await post(http, gw, chat("What is the capital of France?"), cached("semantic"))
    assert h["x-portkey-cache-status"] == "SEMANTIC MISS"
    await flush(gw)
    _, h, _ = await post(http, gw, chat("What's the capital of France"), cached("semantic"))
    assert h["x-portkey-cache-status"] == "SEMANTIC HIT"
    _, h, _ = await post(http, gw, chat("What is the capital of Germany?"), cached("semantic"))
    assert h["x-portkey-cache-status"] == "SEMANTIC MISS"
    assert len(upstream.fake.seen) == 2
