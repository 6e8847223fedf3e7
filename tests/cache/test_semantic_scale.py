"""The semantic index at scale and across workers: IVF past the threshold, rebuild from the
store, the pair sets through the index, the embedding LRU, two services on one data dir."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest

from cache import CacheSettings, open_cache
from cache.guard import DEFAULT_THRESHOLD, allows
from cache.semantic_index import FLAT, IVF, IndexParams, SemanticIndex
from tests.cache.conftest import FakeUpstream, chat, make_call

DATA = Path(__file__).parent.parent / "data"
SEM = {"mode": "semantic"}


def units(n: int, seed: int = 0, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", [FLAT, IVF])
@pytest.mark.parametrize("name", ["tuning", "heldout"])
def test_pair_sets_decide_the_same_through_the_index(minilm, name, kind):
    """Every pair the cosine + guard rule accepts is found through the index (flat below the
    threshold; IVF, nprobe 8 of 64 lists, among 3,000 other vectors), and nothing else is."""
    sets = json.loads((DATA / f"semantic_pairs_{name}.json").read_text())
    pairs = sets["should_hit"] + sets["must_not_hit"]
    stored = np.stack([minilm.embed_sync(a) for a, _ in pairs])
    idx = SemanticIndex(IndexParams(ivf_threshold=1000, nprobe=8))
    ids = list(range(1, len(pairs) + 1))
    if kind == IVF:
        idx.add_many("s", [10_000 + i for i in range(3000)], units(3000))
    idx.add_many("s", ids, stored)
    if kind == IVF:
        snap = idx.begin_rebuild("s")
        assert snap is not None
        idx.finish_rebuild("s", SemanticIndex.build(snap))
    assert idx.kind("s") == kind
    for i, (a, b) in enumerate(pairs):
        q = minilm.embed_sync(b)
        want = float(q @ stored[i]) >= DEFAULT_THRESHOLD and allows(b, a)
        found = [eid for eid, _ in idx.search("s", q, k=8, threshold=DEFAULT_THRESHOLD)]
        got = ids[i] in found and allows(b, a)
        assert got == want, (a, b)


async def _seed(path: Path, scope: str, n: int, seed: int = 1) -> None:
    """n entries with random unit vectors in ``scope``, written straight into the store."""
    now = time.time()
    vecs = units(n, seed=seed)
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO cache_entries (id, key, namespace, scope, created, expires, last_used, "
            "size, status, provider, headers, body, prompt, vector) "
            "VALUES (?, ?, '', ?, ?, ?, ?, 2000, 200, 'openai', '[]', X'7B7D', ?, ?)",
            [
                (10_000 + i, f"seed-{i}", scope, now, now + 3600, now, f"seed {i}", v.tobytes())
                for i, v in enumerate(vecs)
            ],
        )


async def test_big_scope_rebuilt_from_the_store_as_ivf_and_hits(tmp_path, minilm):
    settings = CacheSettings(ivf_threshold=1000, ivf_nprobe=16)
    up = FakeUpstream()
    svc = await open_cache(tmp_path, settings, embedder=minilm)
    await svc.layer(make_call(chat("How tall is Mount Everest?"), **SEM), up)
    await svc.flush()
    scope = next(e.scope for e in svc.store._mem.values())
    await svc.close()
    await _seed(tmp_path / settings.filename, scope, 2500)

    svc = await open_cache(tmp_path, settings, embedder=minilm)
    try:
        await svc.index_ready()
        stats = await svc.stats()
        assert stats["semantic_vectors"] == 2501
        assert stats["semantic_index"] == {"flat": 0, "ivf": 1, "rebuilding": 0}
        assert stats["index_rebuilds"] == 1
        r = await svc.layer(make_call(chat("What is the height of Mount Everest?"), **SEM), up)
        assert r.cache_status == "SEMANTIC HIT" and up.calls == 1
        stats = await svc.stats()
        assert stats["search_ms"]["n"] == 1 and stats["embed_ms"]["n"] == 1
    finally:
        await svc.close()


async def test_growth_past_the_threshold_rebuilds_in_the_background(tmp_path, minilm):
    settings = CacheSettings(ivf_threshold=1000, ivf_nprobe=16)
    up = FakeUpstream()
    svc = await open_cache(tmp_path, settings, embedder=minilm)
    try:
        await svc.layer(make_call(chat("How tall is Mount Everest?"), **SEM), up)
        await svc.flush()
        scope = next(e.scope for e in svc.store._mem.values())
        loop = asyncio.get_running_loop()
        vecs = units(1200, seed=2)
        for i in range(1200):
            await loop.run_in_executor(svc._pool, svc._index_add, loop, scope, 50_000 + i, vecs[i])
        await asyncio.sleep(0)
        await svc.index_ready()
        assert (await svc.stats())["semantic_index"]["ivf"] == 1
        r = await svc.layer(make_call(chat("What is the height of Mount Everest?"), **SEM), up)
        assert r.cache_status == "SEMANTIC HIT"
        # ids the index names whose entries are gone are dropped when a lookup meets them
        assert 50_000 in svc.index
        await svc.layer(make_call(chat("What is the height of Everest?"), **SEM), up)
    finally:
        await svc.close()


class CountingEmbedder:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    async def embed(self, text: str) -> np.ndarray:
        self.calls += 1
        return await self.inner.embed(text)

    async def close(self) -> None:
        pass


async def test_repeated_semantic_question_skips_the_model(tmp_path, minilm):
    emb = CountingEmbedder(minilm)
    svc = await open_cache(tmp_path, embedder=emb)
    up = FakeUpstream()
    try:
        await svc.layer(make_call(chat("How tall is Mount Everest?"), **SEM), up)
        await svc.flush()
        q = chat("What is the height of Mount Everest?")
        for _ in range(3):
            r = await svc.layer(make_call(q, **SEM), up)
            assert r.cache_status == "SEMANTIC HIT"
        assert emb.calls == 2 and svc.counters.embed_cache_hits == 2
    finally:
        await svc.close()
    svc = await open_cache(tmp_path, CacheSettings(embed_cache_entries=0), embedder=emb)
    try:
        for _ in range(2):
            await svc.layer(make_call(q, **SEM), up)
        assert emb.calls == 4 and svc.counters.embed_cache_hits == 0
    finally:
        await svc.close()


async def test_two_workers_catch_up_from_the_shared_store(tmp_path, minilm):
    settings = CacheSettings(sync_interval_s=0.05)
    a = await open_cache(tmp_path, settings, embedder=minilm)
    b = await open_cache(tmp_path, settings, embedder=minilm)
    up = FakeUpstream()
    try:
        r = await a.layer(make_call(chat("How tall is Mount Everest?"), **SEM), up)
        assert r.cache_status == "SEMANTIC MISS"
        await a.flush()
        for _ in range(250):
            if (await b.stats())["semantic_vectors"] == 1:
                break
            await asyncio.sleep(0.02)
        # B has the vector: from its start-up load or, when A wrote it after that, a sync.
        assert (await b.stats())["semantic_vectors"] == 1
        synced = b.counters.synced_vectors
        assert synced <= 1
        r = await b.layer(make_call(chat("What is the height of Mount Everest?"), **SEM), up)
        assert r.cache_status == "SEMANTIC HIT" and up.calls == 1
        body = msgspec.json.decode(r.body)
        assert body["choices"][0]["message"]["content"] == "answer 1"
        # A replaces the entry (refresh): B catches up with the new one
        await a.layer(make_call(chat("How tall is Mount Everest?"), force_refresh=True, **SEM), up)
        await a.flush()
        for _ in range(250):
            if b.counters.synced_vectors == synced + 1:
                break
            await asyncio.sleep(0.02)
        assert b.counters.synced_vectors == synced + 1
        r = await b.layer(make_call(chat("What is the height of Mount Everest?"), **SEM), up)
        assert r.cache_status == "SEMANTIC HIT"
        assert msgspec.json.decode(r.body)["choices"][0]["message"]["content"] == "answer 2"
        # A empties the cache: B drops the ids whose entries are gone when a lookup meets them
        seen = set(b.index._scope_of)
        assert len(seen) == 2
        await a.clear()
        r = await b.layer(make_call(chat("What is the height of Mount Everest?"), **SEM), up)
        assert r.cache_status == "SEMANTIC MISS"
        await b.flush()
        assert not seen & set(b.index._scope_of) and len(b.index) == 1  # B's own new entry
    finally:
        await a.close()
        await b.close()
