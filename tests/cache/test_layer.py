from __future__ import annotations

import time

import msgspec
import pytest

from cache import CacheSettings, open_cache
from cache.sse import StreamAssembler
from tests.cache.conftest import FakeUpstream, chat, make_call, relay


@pytest.fixture
async def service(tmp_path, minilm):
    svc = await open_cache(tmp_path, CacheSettings(), embedder=minilm)
    yield svc
    await svc.close()


async def test_disabled_without_cache_config(service):
    up = FakeUpstream()
    r = await service.layer(make_call(chat("hi"), mode=None), up)
    assert r.cache_status == "DISABLED" and up.calls == 1
    r = await service.layer(make_call(chat("hi"), mode=None), up)
    assert up.calls == 2


async def test_miss_then_hit_with_stored_json(service):
    up = FakeUpstream()
    r1 = await service.layer(make_call(chat("hi")), up)
    assert r1.cache_status == "MISS"
    r2 = await service.layer(make_call(chat("hi")), up)
    assert r2.cache_status == "HIT" and up.calls == 1
    assert r2.body == r1.body and r2.status == 200
    assert r2.headers == [("content-type", "application/json")]  # no x-request-id / rate limits


async def test_simple_hit_is_fast(service):
    up = FakeUpstream()
    await service.layer(make_call(chat("hi " * 200)), up)
    calls = [make_call(chat("hi " * 200)) for _ in range(300)]
    t0 = time.perf_counter()
    for c in calls:
        r = await service.layer(c, up)
    per_hit_ms = (time.perf_counter() - t0) * 1000 / len(calls)
    assert r.cache_status == "HIT" and up.calls == 1
    assert per_hit_ms < 0.5, per_hit_ms


async def test_namespaces_isolate_and_clear(service):
    up = FakeUpstream()
    await service.layer(make_call(chat("hi"), namespace="a"), up)
    r = await service.layer(make_call(chat("hi"), namespace="b"), up)
    assert r.cache_status == "MISS" and up.calls == 2
    assert await service.clear("a") == 1
    r = await service.layer(make_call(chat("hi"), namespace="a"), up)
    assert r.cache_status == "MISS"
    r = await service.layer(make_call(chat("hi"), namespace="b"), up)
    assert r.cache_status == "HIT"


async def test_only_2xx_is_stored(service):
    up = FakeUpstream()
    up.status = 429
    await service.layer(make_call(chat("hi")), up)
    up.status = 200
    r = await service.layer(make_call(chat("hi")), up)
    assert r.cache_status == "MISS" and up.calls == 2


async def test_force_refresh_skips_lookup_and_overwrites(service):
    up = FakeUpstream()
    await service.layer(make_call(chat("hi")), up)
    r = await service.layer(make_call(chat("hi"), force_refresh=True), up)
    assert r.cache_status == "REFRESH" and up.calls == 2
    r = await service.layer(make_call(chat("hi")), up)
    assert r.cache_status == "HIT"
    assert msgspec.json.decode(r.body)["choices"][0]["message"]["content"] == "answer 2"


async def test_request_max_age_asks_for_fresher_entries(service):
    up = FakeUpstream()
    service.settings = msgspec.structs.replace(service.settings, min_max_age=0)
    await service.layer(make_call(chat("hi")), up)
    for e in service.store._mem.values():
        e.created -= 120  # stored two minutes ago
    r = await service.layer(make_call(chat("hi"), max_age=60), up)
    assert r.cache_status == "MISS" and up.calls == 2


async def test_stream_is_stored_when_complete_and_serves_both_kinds(service):
    up = FakeUpstream()
    up.stream_text = "streamed answer text"
    r = await service.layer(make_call(chat("q", stream=True)), up)
    assert r.cache_status == "MISS"
    await relay(r)
    # non-stream request: the assembled JSON
    r = await service.layer(make_call(chat("q")), up)
    assert r.cache_status == "HIT" and up.calls == 1
    doc = msgspec.json.decode(r.body)
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"]["content"] == "streamed answer text"
    # stream request: SSE replayed from the stored JSON
    r = await service.layer(make_call(chat("q", stream=True)), up)
    assert r.cache_status == "HIT" and r.streaming
    assert ("content-type", "text/event-stream") in r.headers
    raw = await relay(r)
    assert raw.endswith(b"data: [DONE]\n\n")
    a = StreamAssembler()
    a.feed(raw)
    assert a.result()["choices"][0]["message"]["content"] == "streamed answer text"
    assert up.calls == 1


async def test_cut_stream_is_not_stored(service):
    up = FakeUpstream()
    r = await service.layer(make_call(chat("q", stream=True)), up)
    await relay(r, cut_after=2)
    r = await service.layer(make_call(chat("q", stream=True)), up)
    assert r.cache_status == "MISS" and up.calls == 2


async def test_entries_survive_restart_and_hold_no_provider_key(tmp_path, minilm):
    up = FakeUpstream()
    svc = await open_cache(tmp_path, embedder=minilm)
    await svc.layer(make_call(chat("persist me"), api_key="sk-live-SECRET"), up)
    await svc.layer(
        make_call(
            chat("what is the capital of France?"), mode="semantic", api_key="sk-live-SECRET"
        ),
        up,
    )
    await svc.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"sk-live-SECRET" not in raw and b"authorization" not in raw.lower()
    svc = await open_cache(tmp_path, embedder=minilm)
    try:
        r = await svc.layer(make_call(chat("persist me")), up)
        assert r.cache_status == "HIT"
        r = await svc.layer(make_call(chat("What's the capital of France"), mode="semantic"), up)
        assert r.cache_status == "SEMANTIC HIT"  # the index was rebuilt from the store
        assert up.calls == 2
        assert (await svc.stats())["semantic_vectors"] == 1
    finally:
        await svc.close()


async def test_semantic_hit_miss_and_scopes(service):
    up = FakeUpstream()
    sem = {"mode": "semantic"}
    r = await service.layer(make_call(chat("How tall is Mount Everest?"), **sem), up)
    assert r.cache_status == "SEMANTIC MISS"
    await service.flush()
    r = await service.layer(make_call(chat("What is the height of Mount Everest?"), **sem), up)
    assert r.cache_status == "SEMANTIC HIT" and up.calls == 1
    # exact repeats are plain hits
    r = await service.layer(make_call(chat("How tall is Mount Everest?"), **sem), up)
    assert r.cache_status == "HIT"
    # near-miss: blocked by the guard
    r = await service.layer(make_call(chat("How tall is Mount Kilimanjaro?"), **sem), up)
    assert r.cache_status == "SEMANTIC MISS"
    # another model, temperature or namespace never shares
    for call in (
        make_call(chat("What is the height of Mount Everest?", model="gpt-4o"), **sem),
        make_call(chat("What is the height of Mount Everest?", temperature=1.5), **sem),
        make_call(chat("What is the height of Mount Everest?"), namespace="x", **sem),
    ):
        r = await service.layer(call, up)
        assert r.cache_status == "SEMANTIC MISS"
    # simple mode never looks up by meaning
    r = await service.layer(make_call(chat("What's the height of Mount Everest")), up)
    assert r.cache_status == "MISS"
    # embeddings are exact-only, even in semantic mode
    r = await service.layer(make_call({"model": "e", "input": "x"}, path="/embeddings", **sem), up)
    assert r.cache_status == "MISS"


async def test_semantic_system_message_is_part_of_the_scope(service):
    up = FakeUpstream()

    def body(system: str, q: str):
        return {
            "model": "m",
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": q}],
        }

    await service.layer(
        make_call(body("Answer in French.", "How tall is Everest?"), mode="semantic"), up
    )
    await service.flush()
    r = await service.layer(
        make_call(body("Answer in French.", "What is the height of Everest?"), mode="semantic"), up
    )
    assert r.cache_status == "SEMANTIC HIT"
    r = await service.layer(
        make_call(body("Answer in German.", "What is the height of Everest?"), mode="semantic"), up
    )
    assert r.cache_status == "SEMANTIC MISS"


async def test_semantic_refresh_overwrites_and_reindexes(service):
    up = FakeUpstream()
    sem = {"mode": "semantic"}
    await service.layer(make_call(chat("How tall is Mount Everest?"), **sem), up)
    r = await service.layer(
        make_call(chat("How tall is Mount Everest?"), force_refresh=True, **sem), up
    )
    assert r.cache_status == "REFRESH"
    await service.flush()
    stats = await service.stats()
    assert stats["semantic_vectors"] == 1 and stats["entries"] == 1
    r = await service.layer(make_call(chat("What is the height of Mount Everest?"), **sem), up)
    assert r.cache_status == "SEMANTIC HIT"
    assert msgspec.json.decode(r.body)["choices"][0]["message"]["content"] == "answer 2"


async def test_eviction_removes_vectors(tmp_path, minilm):
    svc = await open_cache(tmp_path, CacheSettings(max_entries=2), embedder=minilm)
    up = FakeUpstream()
    try:
        for q in ("How tall is Mount Everest?", "Who wrote Hamlet?", "Why is the sky blue?"):
            await svc.layer(make_call(chat(q), mode="semantic"), up)
            await svc.flush()
        stats = await svc.stats()
        assert stats["entries"] == 2 and stats["evicted"] == 1
        assert stats["semantic_vectors"] == 2
    finally:
        await svc.close()
