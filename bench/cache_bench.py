"""Cache micro-benchmarks: embedding latency, FAISS search at 100k entries, simple-hit cost.

Run: ``python -m bench.cache_bench`` (prints a table, ``run()`` returns the numbers as a dict;
``--json`` prints them as JSON instead: `bench.run` does that on the gateway's CPU).
FAISS vectors are random unit vectors, searched through `cache.semantic_index.SemanticIndex`
as flat and as IVF (what a scope past ``ivf_threshold`` uses); queries are stored vectors plus
noise (cosine ≈ 0.95), i.e. queries a cache would hit. Embed times use real short prompts with
the gateway's default threads (``embed_threads``) and with the other of 1 and 2.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np

PROMPTS = [
    "What is the capital of France?",
    "How do I reverse a list in Python?",
    "Write a haiku about autumn leaves",
    "Explain the difference between TCP and UDP",
    "Give me three tips for better sleep",
    "Convert 100 degrees Fahrenheit to Celsius",
    "Summarize the plot of Hamlet in two sentences",
    "Who painted the Mona Lisa?",
]


def _pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s), 3),
        "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))], 3),
    }


def bench_embed(n: int = 200, threads: int = 1) -> dict[str, float]:
    from cache.embedder import MiniLMEmbedder

    t0 = time.perf_counter()
    emb = MiniLMEmbedder.load(threads=threads)
    load_s = time.perf_counter() - t0
    for p in PROMPTS:
        emb.embed_sync(p)
    times = []
    for i in range(n):
        t = time.perf_counter()
        emb.embed_sync(PROMPTS[i % len(PROMPTS)] + f" ({i})")
        times.append((time.perf_counter() - t) * 1000)
    return {**_pct(times), "load_s": round(load_s, 3), "threads": threads}


def bench_faiss(
    n: int = 100_000, queries: int = 200, dim: int = 384, kind: str = "flat"
) -> dict[str, float]:
    from cache.semantic_index import IndexParams, SemanticIndex

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    # flat: never switch; ivf: the gateway's defaults (threshold 30k, nprobe 32)
    idx = SemanticIndex(IndexParams(ivf_threshold=n + 1) if kind == "flat" else IndexParams())
    t0 = time.perf_counter()
    idx.add_many("scope", list(range(1, n + 1)), vecs)
    if kind == "ivf":
        snap = idx.begin_rebuild("scope")
        assert snap is not None
        idx.finish_rebuild("scope", SemanticIndex.build(snap))
    build_s = time.perf_counter() - t0
    assert idx.kind("scope") == kind
    times = []
    found = 0
    for i in range(queries):
        want = (i * 7919) % n
        q = vecs[want] + 0.33 * rng.standard_normal(dim, dtype=np.float32) / np.sqrt(dim)
        q /= np.linalg.norm(q)
        t = time.perf_counter()
        hits = idx.search("scope", q, k=4)
        times.append((time.perf_counter() - t) * 1000)
        found += bool(hits) and hits[0][0] == want + 1
    t = time.perf_counter()
    idx.remove(range(1, 1001))
    remove_ms = (time.perf_counter() - t) * 1000
    return {
        **_pct(times),
        "entries": n,
        "recall_at_1": round(found / queries, 3),
        "build_s": round(build_s, 3),
        "remove_1000_ms": round(remove_ms, 2),
    }


async def bench_simple_hit(n: int = 2000) -> dict[str, float]:
    """Layer cost of a simple-cache hit (key hashing + memory LRU), no HTTP."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from cache import CacheSettings, open_cache
    from proxy.chain import Call, Reply
    from proxy.config import CacheConfig, Target

    body = (
        b'{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"system","content":'
        b'"You are terse."},{"role":"user","content":"' + b"hello " * 150 + b'"}]}'
    )

    async def upstream(call: Call) -> Reply:
        return Reply(
            status=200,
            headers=[("content-type", "application/json")],
            body=b'{"id":"x","object":"chat.completion","choices":[]}',
        )

    def call() -> Call:
        return Call(
            request=None,
            method="POST",
            path="/chat/completions",  # type: ignore[arg-type]
            query="",
            endpoint="chat",
            body=body,
            headers=CIMultiDictProxy(CIMultiDict()),
            trace_id="t",
            config=Target(provider="openai"),
            cache=CacheConfig(mode="simple"),
        )

    with tempfile.TemporaryDirectory() as d:
        svc = await open_cache(d, CacheSettings(), embedder=_NoEmbedder())
        await svc.layer(call(), upstream)
        times = []
        for _ in range(n):
            c = call()
            t = time.perf_counter()
            await svc.layer(c, upstream)
            times.append((time.perf_counter() - t) * 1000)
        await svc.close()
    return _pct(times)


class _NoEmbedder:
    name = "none"

    async def embed(self, text: str) -> np.ndarray:
        raise RuntimeError("not used")

    async def close(self) -> None:
        pass


def run(quiet: bool = False) -> dict[str, Any]:
    from cache.settings import CacheSettings
    from cache.startup import embed_threads

    default = embed_threads(CacheSettings())  # 1
    out = {
        "embed_minilm_int8": bench_embed(threads=default),
        **{f"embed_minilm_int8_{t}thr": bench_embed(threads=t) for t in (1, 2) if t != default},
        "faiss_ivf_100k_search": bench_faiss(kind="ivf"),
        "faiss_flat_100k_search": bench_faiss(kind="flat"),
        "simple_hit_layer": asyncio.run(bench_simple_hit()),
    }
    if not quiet:
        for name, row in out.items():
            print(f"{name:26s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return out


if __name__ == "__main__":
    if "--json" in sys.argv[1:]:
        print(json.dumps(run(quiet=True)))
    else:
        run()
