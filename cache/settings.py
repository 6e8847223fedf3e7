"""The cache's settings: one struct the gateway keeps under ``[cache]`` in its settings file."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from cache.guard import DEFAULT_THRESHOLD


class CacheSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    filename: str = "cache.sqlite3"
    """SQLite file under the gateway's data dir (its own file: cache writes never wait on the
    log writer's lock)."""
    max_entries: Annotated[int, Meta(ge=1)] = 100_000
    max_bytes: Annotated[int, Meta(ge=1)] = 1 << 30
    """Caps on what SQLite holds; past them the least recently used entries go."""
    max_entry_bytes: Annotated[int, Meta(ge=1)] = 8 << 20
    """Larger answers (or streams) are not stored."""
    memory_entries: Annotated[int, Meta(ge=0)] = 10_000
    memory_bytes: Annotated[int, Meta(ge=0)] = 64 << 20
    """The in-memory LRU in front of SQLite that serves simple-cache hits."""
    default_max_age: Annotated[int, Meta(ge=1)] = 604_800
    """Seconds an entry lives when the request's cache config gives no max_age (7 days)."""
    min_max_age: Annotated[int, Meta(ge=0)] = 60
    max_max_age: Annotated[int, Meta(ge=1)] = 7_776_000
    """Bounds applied to a request's max_age (hosted Portkey: 60 s … 90 days)."""
    sweep_interval_s: Annotated[float, Meta(gt=0)] = 60.0
    semantic_threshold: Annotated[float, Meta(ge=0, le=1)] = DEFAULT_THRESHOLD
    """Cosine a stored prompt needs before the lexical guard is asked (see cache/guard.py)."""
    semantic_candidates: Annotated[int, Meta(ge=1, le=64)] = 4
    semantic_max_chars: Annotated[int, Meta(ge=1)] = 4000
    """Longer prompts use the exact cache only."""
    embedder: Literal["minilm", "upstream", "off"] = "minilm"
    embed_threads: Annotated[int, Meta(ge=0, le=16)] = 1
    """ONNX intra-op threads for the MiniLM model (0 = 2 when each worker process has two CPUs,
    else 1). Measured on 2 cores: an idle machine embeds one prompt in ~3.1–3.9 ms with 2
    threads vs ~5 ms with 1, but with load on the other core 2 threads lost (semantic hits at 32
    connections 166 vs 216 req/s, +47 % CPU per request, p50 at one connection 6.8 vs 5.7 ms),
    and pinned to one CPU a prompt took ~11 ms. Hence 1."""
    embed_cache_entries: Annotated[int, Meta(ge=0)] = 1024
    """Vectors of recently embedded prompt texts kept in memory (LRU), so a repeated semantic
    question skips the model; 0 turns it off."""
    ivf_threshold: Annotated[int, Meta(ge=100)] = 30_000
    """A scope's semantic index switches from exact (flat) search to IVF at this many vectors
    (flat costs ~6–9 ms a query at 100k, IVF ~0.3–0.4 ms); back to flat under half of it."""
    ivf_nprobe: Annotated[int, Meta(ge=1, le=4096)] = 32
    """IVF lists searched per query (recall vs time; 32 measured recall@1 ≈ 0.99 on near
    queries at 100k)."""
    sync_interval_s: Annotated[float, Meta(ge=0)] = 1.0
    """How often each worker adds to its semantic index the entries other workers wrote to the
    shared store (0: never; a lone worker finds nothing new)."""
    upstream_embeddings_url: str | None = None
    """For ``embedder = "upstream"``: full URL of an OpenAI-compatible embeddings endpoint."""
    upstream_embeddings_model: str = "text-embedding-3-small"
    upstream_embeddings_key_env: str | None = None
    """Name of the environment variable holding that endpoint's key (the key itself is never
    in the settings file)."""
