"""A gateway whose semantic cache already holds many entries, for the ``semantic-hit`` row.

How the cache gets its 100k entries, keeping the row honest (a real SEMANTIC HIT, end to end,
with the embedding):

1. the gateway starts on an empty data dir; once its model is loaded (``GET /v1/cache/stats``
   shows an ``embedder``), one request with a *paraphrase* of the bench prompt is sent in
   semantic mode through the gateway: a SEMANTIC MISS, whose answer the gateway stores with the
   paraphrase's real embedding and the real scope (model, config, namespace…);
2. the gateway is stopped, and ``entries`` rows with random unit vectors in that same scope are
   written into its cache SQLite file (a random 384-d vector is ~orthogonal to any prompt, so
   none of them can be a hit — they only make the index big);
3. the gateway is started again on that data dir: it rebuilds its index from the store at
   start-up, then retrains the big scope as IVF in the background; the bench waits until the
   stats show every vector loaded and no rebuild under way.

The bench prompt itself is never stored (a semantic hit stores nothing), so every measured
request embeds the prompt, searches 100k+1 vectors and is served the paraphrase's answer. The
row's settings turn the embedding LRU off so that the model runs on every request.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import payloads
from bench.procs import loopback_request

PARAPHRASE = "Can you tell me what happens when you mix red & yellow?"
"""Passes the cache's lexical guard against the bench prompt (cosine 0.985 with MiniLM)."""


@dataclass(frozen=True)
class SemanticSeed:
    entries: int = 100_000
    prompt: str = PARAPHRASE
    filename: str = "cache.sqlite3"

    def body(self) -> bytes:
        return json.dumps(
            {"model": payloads.MODEL, "messages": [{"role": "user", "content": self.prompt}]},
            separators=(",", ":"),
        ).encode()


def stats(port: int) -> dict[str, Any]:
    status, _, body = loopback_request(port, "GET", "/v1/cache/stats")
    if status != 200:
        raise RuntimeError(f"GET /v1/cache/stats answered {status}")
    return json.loads(body)  # type: ignore[no-any-return]


def reset_timings(port: int) -> None:
    loopback_request(port, "DELETE", "/v1/cache/timings")


def wait_stats(port: int, ok: Any, what: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = stats(port)
        if ok(st):
            return st
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}: {st}")
        time.sleep(0.1)


def prime(port: int, seed: SemanticSeed, path: str, headers: dict[str, str]) -> None:
    """Step 1: the paraphrase's answer stored by the gateway itself."""
    wait_stats(port, lambda st: st["embedder"], "the embedder to load")
    status, got, body = loopback_request(
        port, "POST", path, seed.body(), {"Content-Type": "application/json", **headers}
    )
    if status != 200 or got.get("x-portkey-cache-status") != "SEMANTIC MISS":
        raise RuntimeError(f"priming answered {status} {got.get('x-portkey-cache-status')}")
    wait_stats(
        port,
        lambda st: st["entries"] == 1 and st["pending_writes"] == 0 and st["semantic_vectors"],
        "the primed entry to be written",
    )


def fill(data_dir: Path, seed: SemanticSeed) -> str:
    """Step 2: ``entries`` random vectors in the primed entry's scope; returns the scope."""
    rng = np.random.default_rng(0)
    now = time.time()
    with sqlite3.connect(data_dir / seed.filename) as db:
        rows = db.execute("SELECT scope FROM cache_entries WHERE scope IS NOT NULL").fetchall()
        if len(rows) != 1:
            raise RuntimeError(f"expected one primed semantic entry, found {len(rows)}")
        scope = rows[0][0]
        body = payloads.COMPLETION
        for start in range(0, seed.entries, 10_000):
            n = min(10_000, seed.entries - start)
            vecs = rng.standard_normal((n, 384), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            db.executemany(
                "INSERT INTO cache_entries (id, key, namespace, scope, created, expires, "
                "last_used, size, status, provider, headers, body, prompt, vector) "
                "VALUES (?, ?, '', ?, ?, ?, ?, ?, 200, 'openai', "
                '\'[["content-type","application/json"]]\', ?, ?, ?)',
                [
                    (
                        1 + start + i,
                        f"bench-seed-{start + i}",
                        scope,
                        now,
                        now + 86_400,
                        now,
                        len(body) + 1800,
                        body,
                        f"bench filler prompt {start + i}",
                        v.tobytes(),
                    )
                    for i, v in enumerate(vecs)
                ],
            )
    return scope


def wait_ready(port: int, seed: SemanticSeed) -> dict[str, Any]:
    """Step 3: model loaded, every vector in the index, the big scope trained as IVF."""
    return wait_stats(
        port,
        lambda st: (
            st["embedder"]
            and st["semantic_vectors"] >= seed.entries + 1
            and st["semantic_index"]["rebuilding"] == 0
            and st["semantic_index"]["flat"] == 0
        ),
        f"{seed.entries + 1} vectors indexed and trained",
    )
