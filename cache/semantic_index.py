"""Nearest-neighbour search over stored prompts: one FAISS index per scope, flat or IVF by size.

- Below ``ivf_threshold`` vectors a scope uses ``IndexIDMap2(IndexFlatIP(d))``: exact inner
  product (= cosine on normalised vectors), our own int64 ids (the store's row ids), cheap
  ``remove_ids``. The research note measured 0.57 ms per query at 10k and ~9 ms at 100k.
- From ``ivf_threshold`` up it uses ``IndexIVFFlat`` (inner product, nlist ≈ 4·√N rounded to a
  power of two, ``nprobe`` lists searched, trained on the scope's own vectors): ~0.3–0.4 ms at
  100k, recall@1 ≈ 0.99 on the queries a cache can hit (true top-1 ≥ 0.8). It also takes our ids
  natively and removes by id.

Changing a scope's index (flat → IVF, IVF retrained once the scope has grown 4× past what it was
trained on, IVF → flat when it shrinks under half the threshold) is a rebuild in three steps, so
that the old index keeps serving while the new one trains:

1. `begin_rebuild` (on the index thread): copy out the scope's ids and vectors and start a journal
   of the adds and removes that follow;
2. `build` (any other thread; FAISS releases the GIL): a new index from that copy;
3. `finish_rebuild` (on the index thread): replay the journal onto it and swap it in.

Not thread-safe otherwise: the service runs every other call on one dedicated thread (searches
take up to milliseconds and must not run on the event loop), which also serialises adds and
removes. ``omp_set_num_threads(1)``: flat search was slower with more OpenMP threads for single
queries, and IVF was no faster.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import faiss
import numpy as np

faiss.omp_set_num_threads(1)

FLAT, IVF = "flat", "ivf"


@dataclass(frozen=True)
class IndexParams:
    ivf_threshold: int = 30_000
    """A scope switches to IVF at this many vectors (and back to flat under half of it)."""
    nprobe: int = 32
    train_per_list: int = 64
    """IVF trains on at most this many vectors per list (a random sample of the scope)."""


def nlist_for(n: int, per_list_min: int = 39) -> int:
    """≈ 4·√n rounded to a power of two, with at least ``per_list_min`` training points a list."""
    want = 4 * math.sqrt(max(n, 1))
    nlist = 1 << max(0, round(math.log2(want)))
    while nlist > 1 and nlist * per_list_min > n:
        nlist //= 2
    return nlist


@dataclass
class _Scope:
    index: faiss.Index
    kind: str = FLAT
    trained_on: int = 0
    """Vectors in the scope when its IVF was trained (0 for flat)."""
    journal: list[tuple[str, object]] | None = None
    """While a rebuild is under way: ("add", (ids, vectors)) and ("remove", ids), in order."""


@dataclass
class Snapshot:
    """What `build` needs: a copy of one scope's vectors, taken on the index thread."""

    scope: str
    kind: str
    ids: np.ndarray
    vectors: np.ndarray
    params: IndexParams = field(default_factory=IndexParams)


def _flat(d: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(d))


class SemanticIndex:
    def __init__(self, params: IndexParams | None = None) -> None:
        self.params = params or IndexParams()
        self._scopes: dict[str, _Scope] = {}
        self._scope_of: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._scope_of)

    def scopes(self) -> int:
        return len(self._scopes)

    def __contains__(self, entry_id: int) -> bool:
        return entry_id in self._scope_of

    def kinds(self) -> dict[str, int]:
        """How many scopes use each kind of index, and how many are being rebuilt."""
        out = {FLAT: 0, IVF: 0, "rebuilding": 0}
        for s in list(self._scopes.values()):
            out[s.kind] += 1
            out["rebuilding"] += s.journal is not None
        return out

    def kind(self, scope: str) -> str | None:
        s = self._scopes.get(scope)
        return None if s is None else s.kind

    # -- updates (index thread) ----------------------------------------------------------

    def add(self, scope: str, entry_id: int, vector: np.ndarray) -> bool:
        return self.add_many(scope, [entry_id], vector.reshape(1, -1))

    def add_many(self, scope: str, ids: list[int], vectors: np.ndarray) -> bool:
        """Add vectors not already present; True when the scope is now due for a rebuild."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        s = self._scopes.get(scope)
        if s is None:
            s = self._scopes[scope] = _Scope(_flat(vectors.shape[1]))
        elif s.index.d != vectors.shape[1]:
            raise ValueError(f"vector dimension {vectors.shape[1]} != index dimension {s.index.d}")
        fresh = [i for i, eid in enumerate(ids) if eid not in self._scope_of]
        if not fresh:
            return False
        if len(fresh) != len(ids):
            ids, vectors = [ids[i] for i in fresh], vectors[fresh]
        id_arr = np.asarray(ids, dtype=np.int64)
        s.index.add_with_ids(vectors, id_arr)
        if s.journal is not None:
            s.journal.append(("add", (id_arr, vectors.copy())))
        for eid in ids:
            self._scope_of[eid] = scope
        return self.due(scope)

    def remove(self, ids: Iterable[int]) -> int:
        by_scope: dict[str, list[int]] = {}
        for eid in ids:
            scope = self._scope_of.pop(eid, None)
            if scope is not None:
                by_scope.setdefault(scope, []).append(eid)
        removed = 0
        for scope, group in by_scope.items():
            s = self._scopes[scope]
            arr = np.asarray(group, dtype=np.int64)
            removed += s.index.remove_ids(arr)
            if s.journal is not None:
                s.journal.append(("remove", arr))
            elif s.index.ntotal == 0:
                del self._scopes[scope]
        return removed

    # -- rebuilds ------------------------------------------------------------------------

    def target_kind(self, n: int, current: str) -> str:
        t = self.params.ivf_threshold
        if current == IVF:
            return IVF if n >= t // 2 else FLAT
        return IVF if n >= t else FLAT

    def due(self, scope: str) -> bool:
        """Whether the scope's index should be rebuilt (and is not being rebuilt already)."""
        s = self._scopes.get(scope)
        if s is None or s.journal is not None:
            return False
        n = s.index.ntotal
        want = self.target_kind(n, s.kind)
        if want != s.kind:
            return True
        return s.kind == IVF and n >= 4 * max(s.trained_on, 1)

    def due_scopes(self) -> list[str]:
        return [scope for scope in list(self._scopes) if self.due(scope)]

    def begin_rebuild(self, scope: str) -> Snapshot | None:
        """Copy the scope's vectors out and start journaling its updates; None if not due."""
        if not self.due(scope):
            return None
        s = self._scopes[scope]
        ids, vectors = _dump(s.index)
        s.journal = []
        kind = self.target_kind(len(ids), s.kind)
        return Snapshot(scope, kind, ids, vectors, self.params)

    @staticmethod
    def build(snap: Snapshot) -> tuple[faiss.Index, int]:
        """A new index from a snapshot (off the index thread: IVF training takes seconds)."""
        d = snap.vectors.shape[1]
        n = len(snap.ids)
        if snap.kind == FLAT:
            index = _flat(d)
        else:
            nlist = nlist_for(n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = snap.vectors
            cap = snap.params.train_per_list * nlist
            if n > cap:
                pick = np.random.default_rng(0).choice(n, cap, replace=False)
                sample = snap.vectors[np.sort(pick)]
            index.train(sample)
            index.nprobe = min(snap.params.nprobe, nlist)
        if n:
            index.add_with_ids(snap.vectors, snap.ids)
        return index, n

    def finish_rebuild(self, scope: str, built: tuple[faiss.Index, int] | None) -> None:
        """Replay the updates made since `begin_rebuild` and swap the new index in (or, with
        ``built`` None after a failed build, just stop journaling)."""
        s = self._scopes.get(scope)
        if s is None or s.journal is None:
            return
        journal, s.journal = s.journal, None
        if built is None:
            return
        index, n = built
        for op, arg in journal:
            if op == "add":
                ids, vecs = arg  # type: ignore[misc]
                index.add_with_ids(vecs, ids)
            else:
                index.remove_ids(arg)
        s.index = index
        s.kind = IVF if isinstance(index, faiss.IndexIVF) else FLAT
        s.trained_on = n if s.kind == IVF else 0
        if index.ntotal == 0:
            del self._scopes[scope]

    # -- search (index thread) -----------------------------------------------------------

    def search(
        self, scope: str, vector: np.ndarray, k: int = 4, threshold: float = -1.0
    ) -> list[tuple[int, float]]:
        """Up to ``k`` (id, cosine) pairs at or above ``threshold``, best first."""
        s = self._scopes.get(scope)
        if s is None or s.index.ntotal == 0:
            return []
        q = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, ids = s.index.search(q, min(k, s.index.ntotal))
        return [
            (int(i), float(sc))
            for sc, i in zip(scores[0], ids[0], strict=True)
            if i >= 0 and sc >= threshold
        ]

    def clear(self) -> None:
        self._scopes.clear()
        self._scope_of.clear()


def _dump(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) held by a flat ``IndexIDMap2`` or an ``IndexIVFFlat``, as copies."""
    if isinstance(index, faiss.IndexIVF):
        invlists = index.invlists
        ids_parts, vec_parts = [], []
        for lst in range(index.nlist):
            size = invlists.list_size(lst)
            if not size:
                continue
            ids_parts.append(
                faiss.rev_swig_ptr(invlists.get_ids(lst), size).astype(np.int64, copy=True)
            )
            codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * index.code_size)
            vec_parts.append(np.frombuffer(codes, dtype=np.float32).reshape(size, index.d).copy())
        if not ids_parts:
            return np.zeros(0, np.int64), np.zeros((0, index.d), np.float32)
        return np.concatenate(ids_parts), np.concatenate(vec_parts)
    ids = faiss.vector_to_array(index.id_map).astype(np.int64, copy=True)
    vectors = (
        index.index.reconstruct_n(0, index.ntotal)
        if index.ntotal
        else np.zeros((0, index.d), np.float32)
    )
    return ids, np.ascontiguousarray(vectors, dtype=np.float32)


def add_stored(index: SemanticIndex, rows: list[tuple[int, str, bytes]]) -> None:
    """Add (id, scope, float32 vector bytes) rows from the store, grouped by scope."""
    by_scope: dict[str, tuple[list[int], list[np.ndarray]]] = {}
    for entry_id, scope, blob in rows:
        ids, vecs = by_scope.setdefault(scope, ([], []))
        ids.append(entry_id)
        vecs.append(np.frombuffer(blob, dtype=np.float32))
    for scope, (ids, vecs) in by_scope.items():
        index.add_many(scope, ids, np.stack(vecs))
