"""Cache micro-benchmarks: embedding latency, FAISS search at 100k entries, simple-hit cost.

Run: ``python -m bench.cache_bench`` (prints a table, ``run()`` returns the numbers as a dict).
FAISS vectors are random unit vectors (a flat index's cost does not depend on the values);
embed times use real short prompts on one thread, as the gateway runs them.
"""

from __future__ import annotations

import asyncio
import statistics
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


def bench_embed(n: int = 200) -> dict[str, float]:
    from cache.embedder import MiniLMEmbedder

    t0 = time.perf_counter()
    emb = MiniLMEmbedder.load()
    load_s = time.perf_counter() - t0
    for p in PROMPTS:
        emb.embed_sync(p)
    times = []
    for i in range(n):
        t = time.perf_counter()
        emb.embed_sync(PROMPTS[i % len(PROMPTS)] + f" ({i})")
        times.append((time.perf_counter() - t) * 1000)
    return {**_pct(times), "load_s": round(load_s, 3)}


def bench_faiss(n: int = 100_000, queries: int = 200, dim: int = 384) -> dict[str, float]:
    from cache.semantic_index import SemanticIndex

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    idx = SemanticIndex()
    t0 = time.perf_counter()
    idx.add_many("scope", list(range(1, n + 1)), vecs)
    build_s = time.perf_counter() - t0
    times = []
    for i in range(queries):
        q = vecs[(i * 7919) % n]
        t = time.perf_counter()
        idx.search("scope", q, k=4)
        times.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    idx.remove(range(1, 1001))
    remove_ms = (time.perf_counter() - t) * 1000
    return {
        **_pct(times),
        "entries": n,
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


def run() -> dict[str, Any]:
    out = {
        "embed_minilm_int8": bench_embed(),
        "faiss_flat_100k_search": bench_faiss(),
        "simple_hit_layer": asyncio.run(bench_simple_hit()),
    }
    for name, row in out.items():
        print(f"{name:26s} " + "  ".join(f"{k}={v}" for k, v in row.items()))
    return out


if __name__ == "__main__":
    run()
