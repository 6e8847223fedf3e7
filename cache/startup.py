"""Opening the cache at start-up: the embedder (now or in the background), the entry store,
and the semantic index rebuilt from the store. The request path lives in `cache.layer`."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from cache.embedder import Embedder, MiniLMEmbedder, UpstreamEmbedder
from cache.layer import SYNC_MARGIN_S, CacheService
from cache.semantic_index import IndexParams, SemanticIndex, add_stored
from cache.settings import CacheSettings
from cache.store import EntryStore
from proxy.tasks import spawn


async def open_cache(
    data_dir: str | os.PathLike[str],
    settings: CacheSettings | None = None,
    *,
    embedder: Embedder | None = None,
    session: Any = None,
    background_embedder: bool = False,
    workers: int = 1,
) -> CacheService:
    """Open the store, load the embedder, rebuild the semantic index; call at app start-up.

    ``embedder`` overrides the one named in settings (tests share one loaded model);
    ``session`` is the gateway's aiohttp session, used by the upstream embedder; ``workers`` is
    how many gateway processes share the machine (for ``embed_threads = 0``).
    """
    settings = settings or CacheSettings()
    given = embedder is not None
    load_later = embedder is None and background_embedder and settings.embedder == "minilm"
    if embedder is None and settings.embedder != "off" and not load_later:
        if settings.embedder == "upstream":
            if not settings.upstream_embeddings_url:
                raise ValueError("cache: embedder 'upstream' needs upstream_embeddings_url")
            key_env = settings.upstream_embeddings_key_env
            embedder = UpstreamEmbedder(
                settings.upstream_embeddings_url,
                settings.upstream_embeddings_model,
                api_key=os.environ.get(key_env) if key_env else None,
                session=session,
            )
        else:
            embedder = await MiniLMEmbedder.load_async(threads=embed_threads(settings, workers))
    store = await EntryStore.open(
        Path(data_dir) / settings.filename,
        max_entries=settings.max_entries,
        max_bytes=settings.max_bytes,
        memory_entries=settings.memory_entries,
        memory_bytes=settings.memory_bytes,
        sweep_interval=settings.sweep_interval_s,
    )
    index = SemanticIndex(
        IndexParams(ivf_threshold=settings.ivf_threshold, nprobe=settings.ivf_nprobe)
    )
    service = CacheService(store, index, embedder, settings)
    service.owns_embedder = not given
    if load_later:
        # The model takes ~0.3 s and ~250 MB: the gateway serves at once, with exact-match
        # caching only, until it is loaded (semantic requests answer MISS meanwhile).
        spawn(_load_embedder(service, workers), name="lockgate-cache-embedder")
    started = time.time()
    rows = await store.vectors()
    if rows:
        # flat first (~0.1 s at 100k): big scopes are then retrained as IVF in the background
        await asyncio.get_running_loop().run_in_executor(service._pool, add_stored, index, rows)
    service._sync_after = started - SYNC_MARGIN_S
    service.start()
    return service


def embed_threads(settings: CacheSettings, workers: int = 1) -> int:
    """``embed_threads``, or for 0: 2 when each worker has two CPUs, else 1."""
    if settings.embed_threads:
        return settings.embed_threads
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return 2 if cpus // max(workers, 1) >= 2 else 1


async def _load_embedder(service: CacheService, workers: int = 1) -> None:
    try:
        service.embedder = await MiniLMEmbedder.load_async(
            threads=embed_threads(service.settings, workers)
        )
    except Exception:
        logging.getLogger("lockgate.cache").exception("semantic cache: embedder failed to load")
