"""The cache as a chain layer, and the service the app opens at start-up.

Where it sits: ``cache → strategy → retry → timeout → provider``. A hit answers without calling
``nxt``; a miss calls it and stores the answer after the fact:
- only a 2xx answer is stored (never a 429 or a fallback's failure);
- a non-streamed body is put in the store at once (memory now, SQLite by the writer task);
- a stream is watched through a tee and stored only when the relay reports it complete, as the
  assembled completion JSON — so one entry serves streamed and non-streamed requests, and a
  streamed request's hit is replayed as SSE (spec §4.4).

Statuses (``reply.cache_status`` → ``x-portkey-cache-status``): HIT, SEMANTIC HIT, MISS,
SEMANTIC MISS (semantic lookup ran and found nothing), REFRESH (force refresh: lookup skipped,
entry overwritten), DISABLED (no cache config, or an endpoint that is never cached).

Semantic mode = exact lookup, then (chat and text completions only) embed the prompt off the
loop (or take its vector from a small LRU of recent prompt texts), search the scope's FAISS index,
and serve the first candidate above the threshold that the lexical guard accepts.

The semantic index lives in each worker's memory; the store is the source of truth. At start-up
the index is rebuilt from the store; then a poll every ``sync_interval_s`` adds what other workers
stored since, and ids whose entry has gone (another worker evicted or replaced it) are dropped
when a lookup meets them. A scope that outgrows ``ivf_threshold`` is rebuilt as IVF on a second
thread while the old index keeps serving (see cache/semantic_index.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import numpy as np

from cache import guard, keys
from cache.counters import Counters, percentiles
from cache.embedder import Embedder, EmbedderError
from cache.entries import Entry, Removed, keep_headers, new_id
from cache.prompt import Prompt, semantic_prompt
from cache.semantic_index import SemanticIndex, add_stored
from cache.settings import CacheSettings
from cache.sse import replay_events
from cache.store import EntryStore
from cache.stream_tee import StoreTee
from proxy.chain import Call, Next, Reply
from proxy.tasks import spawn

log = logging.getLogger("lockgate.cache")

HIT, SEMANTIC_HIT, MISS, SEMANTIC_MISS, REFRESH, DISABLED = (
    "HIT",
    "SEMANTIC HIT",
    "MISS",
    "SEMANTIC MISS",
    "REFRESH",
    "DISABLED",
)
NOT_CACHED = (
    "/files",
    "/batches",
    "/fine_tuning",
    "/fine-tunes",
    "/uploads",
    "/images/edits",
    "/images/variations",
    "/assistants",
    "/threads",
    "/vector_stores",
    "/realtime",
)
SSE_HEADERS = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
]

SYNC_MARGIN_S = 5.0
"""The cross-worker sync looks back this far past its last poll: an entry's ``created`` is set
when it is put, and it reaches SQLite a little later (ids already indexed are skipped). Each
poll reads the ids created in that window, so keep it short; an entry whose write lagged more
than this behind its ``created`` is only missed by the other workers' semantic lookups (they
find it after a restart)."""

_json = msgspec.json.Decoder()
_enc = msgspec.json.Encoder()


class _Plan(msgspec.Struct, kw_only=True):
    """What one request needs to be stored after the upstream answered."""

    key: str
    namespace: str
    ttl: int
    prompt: Prompt | None = None
    scope: str | None = None
    vector: np.ndarray | None = None


class CacheService:
    """Open with `open_cache`; use ``service.layer`` in the chain; `close` at shutdown."""

    def __init__(
        self,
        store: EntryStore,
        index: SemanticIndex,
        embedder: Embedder | None,
        settings: CacheSettings,
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.counters = Counters()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-faiss")
        self._build_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cache-faiss-build")
        self.owns_embedder = True
        store.on_removed = self._on_removed
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self.embed_ms: deque[float] = deque(maxlen=1000)
        self.search_ms: deque[float] = deque(maxlen=1000)
        """Time the last lookups spent awaiting the model / the FAISS search (embed_ms: model
        runs only, not LRU hits)."""
        self._maintainer: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._sync_after = time.time() - SYNC_MARGIN_S

    # -- the layer ------------------------------------------------------------------------

    async def layer(self, call: Call, nxt: Next) -> Reply:
        cfg = call.cache
        if cfg is None or call.method != "POST" or call.path.startswith(NOT_CACHED):
            self.counters.disabled += 1
            reply = await nxt(call)
            reply.cache_status = DISABLED
            return reply
        body = keys.decoded_body(call)
        is_dict = isinstance(body, dict)
        stream = is_dict and body.get("stream") is True
        include_usage = stream and bool((body.get("stream_options") or {}).get("include_usage"))
        s = self.settings
        ttl = min(
            max(cfg.max_age if cfg.max_age is not None else s.default_max_age, s.min_max_age),
            s.max_max_age,
        )
        now = time.time()
        fresh_after = now - cfg.max_age if cfg.max_age is not None else 0.0
        plan = _Plan(key=keys.call_key(call, body), namespace=call.cache_namespace or "", ttl=ttl)
        semantic = cfg.mode == "semantic" and self.embedder is not None and is_dict
        if semantic:
            plan.prompt = semantic_prompt(call.endpoint, body, s.semantic_max_chars)
            if plan.prompt is not None:
                plan.scope = keys.semantic_scope(call, body, plan.prompt.exact, self.embedder.name)  # type: ignore[union-attr]
        if call.force_refresh:
            status = REFRESH
            self.counters.refreshes += 1
        else:
            entry = self.store.get_memory(plan.key, now) or await self.store.get(plan.key, now)
            if entry is not None and entry.created >= fresh_after:
                hit = self._hit(entry, stream, include_usage, HIT)
                if hit is not None:
                    self.counters.hits += 1
                    return hit
            status = MISS
            if plan.scope is not None:
                status = SEMANTIC_MISS
                entry = await self._semantic_lookup(plan, fresh_after)
                if entry is not None:
                    hit = self._hit(entry, stream, include_usage, SEMANTIC_HIT)
                    if hit is not None:
                        self.counters.semantic_hits += 1
                        return hit
            if status == MISS:
                self.counters.misses += 1
            else:
                self.counters.semantic_misses += 1
        reply = await nxt(call)
        reply.cache_status = status
        if 200 <= reply.status < 300:
            if reply.chunks is not None:
                reply.tees.append(StoreTee(self, plan, reply, sse=stream))
            elif reply.body is not None:
                self._store(plan, reply.status, reply.headers, reply.body, reply.provider)
        return reply

    def _hit(self, entry: Entry, stream: bool, include_usage: bool, status: str) -> Reply | None:
        if not stream:
            return Reply(
                status=entry.status,
                headers=list(entry.headers),
                body=entry.body,
                provider=entry.provider,
                cache_status=status,
            )
        try:
            events = replay_events(_json.decode(entry.body), include_usage=include_usage)
        except msgspec.DecodeError:
            events = None
        if events is None:
            return None  # not a completion (cannot be streamed): treat as a miss
        return Reply(
            status=200,
            headers=list(SSE_HEADERS),
            chunks=_iterate(events),
            provider=entry.provider,
            cache_status=status,
        )

    async def _embed(self, text: str) -> np.ndarray:
        """The prompt's vector: from the LRU of recent texts, else from the model."""
        assert self.embedder is not None
        key = (self.embedder.name, text)
        vec = self._vectors.get(key)
        if vec is not None:
            self._vectors.move_to_end(key)
            self.counters.embed_cache_hits += 1
            return vec
        t0 = time.perf_counter()
        vec = await self.embedder.embed(text)
        self.embed_ms.append((time.perf_counter() - t0) * 1000)
        cap = self.settings.embed_cache_entries
        if cap:
            vec.flags.writeable = False  # shared between requests
            self._vectors[key] = vec
            while len(self._vectors) > cap:
                self._vectors.popitem(last=False)
        return vec

    async def _semantic_lookup(self, plan: _Plan, fresh_after: float) -> Entry | None:
        assert plan.prompt is not None and plan.scope is not None and self.embedder
        try:
            plan.vector = await self._embed(plan.prompt.text)
        except EmbedderError as e:
            self.counters.embed_errors += 1
            log.warning("cache: embedding failed (%s); exact cache only for this request", e)
            plan.scope = None
            return None
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        found = await loop.run_in_executor(
            self._pool,
            self.index.search,
            plan.scope,
            plan.vector,
            self.settings.semantic_candidates,
            self.settings.semantic_threshold,
        )
        self.search_ms.append((time.perf_counter() - t0) * 1000)
        gone = []
        try:
            for entry_id, _score in found:
                entry = await self.store.get_by_id(entry_id)
                if entry is None:
                    gone.append(entry_id)  # expired, evicted or replaced (maybe by another worker)
                    continue
                if entry.prompt is None or entry.scope != plan.scope or entry.created < fresh_after:
                    continue
                if guard.allows(plan.prompt.text, entry.prompt):
                    return entry
            return None
        finally:
            if gone:
                loop.run_in_executor(self._pool, self.index.remove, gone)

    # -- storing --------------------------------------------------------------------------

    def _store(
        self, plan: _Plan, status: int, headers: list[tuple[str, str]], body: bytes, provider: str
    ) -> None:
        if len(body) > self.settings.max_entry_bytes:
            self.counters.not_stored += 1
            return
        if plan.scope is not None and plan.vector is None:
            # REFRESH in semantic mode: the prompt was not embedded on the way in.
            spawn(
                self._embed_then_store(plan, status, headers, body, provider),
                name="cache-embed-store",
            )
            return
        now = time.time()
        entry = Entry(
            id=new_id(),
            key=plan.key,
            namespace=plan.namespace,
            scope=plan.scope if plan.vector is not None else None,
            created=now,
            expires=now + plan.ttl,
            last_used=now,
            status=status,
            provider=provider,
            headers=keep_headers(headers),
            body=body,
            prompt=plan.prompt.text if plan.vector is not None and plan.prompt else None,
            vector=plan.vector.astype(np.float32).tobytes() if plan.vector is not None else None,
        )
        old = self.store.put(entry)
        self.counters.stored += 1
        loop = asyncio.get_running_loop()
        if old is not None and old.id != entry.id and old.vector is not None:
            loop.run_in_executor(self._pool, self.index.remove, [old.id])
        if entry.vector is not None and entry.scope is not None:
            loop.run_in_executor(
                self._pool, self._index_add, loop, entry.scope, entry.id, plan.vector
            )

    # -- the semantic index: adds, rebuilds, catching up with other workers ------------

    def _index_add(
        self, loop: asyncio.AbstractEventLoop, scope: str, entry_id: int, vector: np.ndarray
    ) -> None:
        """On the FAISS thread."""
        if self.index.add(scope, entry_id, vector):
            loop.call_soon_threadsafe(self.maintain_index)

    def maintain_index(self) -> None:
        """Start rebuilding the scopes that are due (flat → IVF, retrain, IVF → flat), unless
        that is already under way. On the event loop."""
        if self._maintainer is None or self._maintainer.done():
            self._maintainer = spawn(self._maintain(), name="cache-index-rebuild")

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = await loop.run_in_executor(self._pool, self.index.due_scopes)
            if not due:
                return
            for scope in due:
                snap = await loop.run_in_executor(self._pool, self.index.begin_rebuild, scope)
                if snap is None:
                    continue
                built = None
                t0 = time.perf_counter()
                try:
                    # the old index keeps serving on the FAISS thread meanwhile
                    built = await loop.run_in_executor(self._build_pool, SemanticIndex.build, snap)
                finally:
                    await loop.run_in_executor(self._pool, self.index.finish_rebuild, scope, built)
                self.counters.index_rebuilds += 1
                log.info(
                    "cache: semantic scope of %d vectors rebuilt as %s in %.1f s",
                    len(snap.ids),
                    snap.kind,
                    time.perf_counter() - t0,
                )

    async def sync_index(self) -> int:
        """Add to the index the semantic entries other workers stored since the last call."""
        now = time.time()
        rows = await self.store.vectors_since(self._sync_after, self.index.__contains__)
        self._sync_after = now - SYNC_MARGIN_S
        if not rows:
            return 0
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, add_stored, self.index, rows)
        self.counters.synced_vectors += len(rows)
        self.maintain_index()
        return len(rows)

    async def _sync_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync_index()
            except Exception:
                log.exception("cache: semantic index sync failed")

    def start(self) -> None:
        """Background work once open: index rebuilds due now, and the cross-worker sync."""
        self.maintain_index()
        if self.settings.sync_interval_s > 0:
            self._syncer = spawn(
                self._sync_loop(self.settings.sync_interval_s), name="cache-index-sync"
            )

    async def _embed_then_store(
        self, plan: _Plan, status: int, headers: list[tuple[str, str]], body: bytes, provider: str
    ) -> None:
        assert plan.prompt is not None and self.embedder is not None
        try:
            plan.vector = await self._embed(plan.prompt.text)
        except EmbedderError:
            self.counters.embed_errors += 1
            plan.scope = None
        self._store(plan, status, headers, body, provider)

    def _on_removed(self, removed: Removed) -> None:
        ids = [i for i, scope in removed if scope is not None]
        if ids:
            asyncio.get_running_loop().run_in_executor(self._pool, self.index.remove, ids)

    # -- admin ----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait for queued writes and index updates (tests, admin, shutdown)."""
        await self.store.flush()
        await asyncio.get_running_loop().run_in_executor(self._pool, lambda: None)

    def reset_timings(self) -> None:
        """Forget the sampled embed/search times (the bench measures one run at a time)."""
        self.embed_ms.clear()
        self.search_ms.clear()

    async def index_ready(self) -> None:
        """Wait for index rebuilds under way (tests, bench)."""
        await self.flush()
        while self._maintainer is not None and not self._maintainer.done():
            await asyncio.shield(self._maintainer)

    async def stats(self) -> dict[str, Any]:
        st = await self.store.stats()
        return {
            **msgspec.to_builtins(st),
            **msgspec.to_builtins(self.counters),
            "semantic_vectors": len(self.index),
            "semantic_scopes": self.index.scopes(),
            "semantic_index": self.index.kinds(),
            "embed_ms": percentiles(self.embed_ms),
            "search_ms": percentiles(self.search_ms),
            "embedder": self.embedder.name if self.embedder else None,
        }

    async def clear(self, namespace: str | None = None) -> int:
        n = await self.store.clear(namespace)
        await self.flush()
        return n

    async def close(self) -> None:
        for task in (self._syncer, self._maintainer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.store.close()
        self._build_pool.shutdown(wait=True)
        self._pool.shutdown(wait=True)
        if self.embedder is not None and self.owns_embedder:
            await self.embedder.close()


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for e in events:
        yield e
