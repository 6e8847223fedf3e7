"""Nearest-neighbour search over stored prompts, one exact FAISS index per scope.

Why ``IndexIDMap2(IndexFlatIP(d))``: exact inner product (= cosine on normalised vectors), our own
int64 ids (the store's row ids), and cheap ``remove_ids`` for expiry and eviction. The research
note measured 0.57 ms per query at 10k vectors and ~9 ms at 100k on one thread, and found Flat
slower with more OpenMP threads for single queries, hence ``omp_set_num_threads(1)``. Scopes
(namespace × model × params) keep indexes small in practice; IVF is the step up past ~50k
vectors in one scope.

Not thread-safe: the service runs every call on one dedicated thread (searches at 100k take
milliseconds and must not run on the event loop), which also serialises adds and removes.
"""

from __future__ import annotations

from collections.abc import Iterable

import faiss
import numpy as np

faiss.omp_set_num_threads(1)


class SemanticIndex:
    def __init__(self) -> None:
        self._indexes: dict[str, faiss.Index] = {}
        self._scope_of: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._scope_of)

    def scopes(self) -> int:
        return len(self._indexes)

    def __contains__(self, entry_id: int) -> bool:
        return entry_id in self._scope_of

    def add(self, scope: str, entry_id: int, vector: np.ndarray) -> None:
        self.add_many(scope, [entry_id], vector.reshape(1, -1))

    def add_many(self, scope: str, ids: list[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = self._indexes.get(scope)
        if index is None:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
            self._indexes[scope] = index
        elif index.d != vectors.shape[1]:
            raise ValueError(f"vector dimension {vectors.shape[1]} != index dimension {index.d}")
        fresh = [i for i, eid in enumerate(ids) if eid not in self._scope_of]
        if not fresh:
            return
        if len(fresh) != len(ids):
            ids, vectors = [ids[i] for i in fresh], vectors[fresh]
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
        for eid in ids:
            self._scope_of[eid] = scope

    def remove(self, ids: Iterable[int]) -> int:
        by_scope: dict[str, list[int]] = {}
        for eid in ids:
            scope = self._scope_of.pop(eid, None)
            if scope is not None:
                by_scope.setdefault(scope, []).append(eid)
        removed = 0
        for scope, group in by_scope.items():
            index = self._indexes[scope]
            removed += index.remove_ids(np.asarray(group, dtype=np.int64))
            if index.ntotal == 0:
                del self._indexes[scope]
        return removed

    def search(
        self, scope: str, vector: np.ndarray, k: int = 4, threshold: float = -1.0
    ) -> list[tuple[int, float]]:
        """Up to ``k`` (id, cosine) pairs at or above ``threshold``, best first."""
        index = self._indexes.get(scope)
        if index is None or index.ntotal == 0:
            return []
        q = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, ids = index.search(q, min(k, index.ntotal))
        return [
            (int(i), float(s))
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0 and s >= threshold
        ]

    def clear(self) -> None:
        self._indexes.clear()
        self._scope_of.clear()
