from __future__ import annotations

import numpy as np
import pytest

from cache.semantic_index import FLAT, IVF, IndexParams, SemanticIndex, nlist_for


def unit(seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_add_search_remove_and_scope_isolation():
    idx = SemanticIndex()
    idx.add("s1", 2**40 + 7, unit(1))
    idx.add("s1", 11, unit(2))
    idx.add("s2", 12, unit(1))
    hits = idx.search("s1", unit(1), k=4)
    assert hits[0][0] == 2**40 + 7 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [i for i, _ in idx.search("s1", unit(1), threshold=0.9)] == [2**40 + 7]
    assert idx.search("nope", unit(1)) == []
    assert idx.remove([2**40 + 7, 999]) == 1
    assert [i for i, _ in idx.search("s1", unit(1), threshold=0.9)] == []
    assert [i for i, _ in idx.search("s2", unit(1), threshold=0.9)] == [12]
    idx.remove([11])
    assert idx.scopes() == 1 and len(idx) == 1


def test_duplicate_ids_are_ignored_and_dimensions_checked():
    idx = SemanticIndex()
    idx.add_many("s", [1, 2], np.stack([unit(1), unit(2)]))
    idx.add_many("s", [2, 3], np.stack([unit(2), unit(3)]))
    assert len(idx) == 3
    with pytest.raises(ValueError):
        idx.add("s", 4, unit(4, dim=8))


def units(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(v: np.ndarray, seed: int, noise: float = 0.3) -> np.ndarray:
    """A unit vector with cosine ≈ 0.95 to ``v`` (384-d)."""
    out = v + noise * unit(seed) * 1.0
    return out / np.linalg.norm(out)


def rebuild(idx: SemanticIndex, scope: str) -> None:
    snap = idx.begin_rebuild(scope)
    assert snap is not None
    idx.finish_rebuild(scope, SemanticIndex.build(snap))


def test_nlist_is_a_power_of_two_near_four_root_n():
    assert nlist_for(100_000) == 1024
    assert nlist_for(1_000_000) == 4096
    assert nlist_for(30_000) == 512
    assert nlist_for(1000) == 16  # capped: at least 39 training points a list


def test_small_scopes_stay_flat_and_exact():
    idx = SemanticIndex(IndexParams(ivf_threshold=2000))
    vecs = units(1999)
    assert not idx.add_many("s", list(range(1, 2000)), vecs)
    assert idx.kind("s") == FLAT and idx.due_scopes() == []
    for i in (0, 500, 1998):
        assert idx.search("s", vecs[i], k=1)[0][0] == i + 1


def test_ivf_past_the_threshold_add_search_remove_by_id():
    idx = SemanticIndex(IndexParams(ivf_threshold=2000, nprobe=8))
    vecs = units(3000)
    ids = [2**40 + i for i in range(3000)]
    assert idx.add_many("big", ids, vecs)  # due for IVF
    idx.add("small", 5, vecs[0])
    rebuild(idx, "big")
    assert idx.kind("big") == IVF and idx.kind("small") == FLAT
    assert idx.kinds() == {FLAT: 1, IVF: 1, "rebuilding": 0}
    assert len(idx) == 3001
    # near-duplicates of stored vectors find their own id (ids map back to entries)
    found = sum(
        idx.search("big", near(vecs[i], i), k=1)[0][0] == ids[i] for i in range(0, 3000, 30)
    )
    assert found >= 95
    hit = idx.search("big", vecs[123], k=4, threshold=0.99)
    assert hit == [(ids[123], pytest.approx(1.0, abs=1e-5))]
    # add after training, then remove
    extra = unit(77)
    idx.add("big", 9, extra)
    assert idx.search("big", extra, k=1)[0][0] == 9
    assert idx.remove([9, ids[123]]) == 2
    assert idx.search("big", extra, k=1, threshold=0.99) == []
    assert idx.search("big", vecs[123], k=1, threshold=0.99) == []
    assert 9 not in idx and len(idx) == 3000


def test_updates_during_a_rebuild_are_replayed_and_the_old_index_serves():
    idx = SemanticIndex(IndexParams(ivf_threshold=2000, nprobe=8))
    vecs = units(2500, seed=3)
    idx.add_many("s", list(range(1, 2501)), vecs)
    snap = idx.begin_rebuild("s")
    assert snap is not None and snap.kind == IVF and len(snap.ids) == 2500
    assert idx.kinds()["rebuilding"] == 1 and idx.due_scopes() == []
    # meanwhile: the flat index answers, and takes adds and removes
    assert idx.search("s", vecs[10], k=1)[0][0] == 11
    new = unit(5000)
    idx.add("s", 99_999, new)
    idx.remove([11, 12])
    built = SemanticIndex.build(snap)
    idx.finish_rebuild("s", built)
    assert idx.kind("s") == IVF and idx.kinds()["rebuilding"] == 0
    assert idx.search("s", new, k=1)[0][0] == 99_999
    assert idx.search("s", vecs[10], k=1, threshold=0.99) == []
    assert idx.search("s", vecs[20], k=1)[0][0] == 21
    assert len(idx) == 2499


def test_ivf_shrinks_back_to_flat_and_retrains_when_grown():
    idx = SemanticIndex(IndexParams(ivf_threshold=1000, nprobe=8))
    vecs = units(4100, seed=4)
    idx.add_many("s", list(range(1, 1001)), vecs[:1000])
    rebuild(idx, "s")
    assert idx.kind("s") == IVF
    assert not idx.add_many("s", list(range(1001, 4000)), vecs[1000:3999])
    assert idx.add("s", 4000, vecs[3999])  # 4× what it was trained on: retrain
    rebuild(idx, "s")
    assert idx.kind("s") == IVF and len(idx) == 4000
    idx.remove(range(1, 3600))
    assert idx.due("s")  # 401 < 500: back to flat
    rebuild(idx, "s")
    assert idx.kind("s") == FLAT
    assert idx.search("s", vecs[3800], k=1)[0][0] == 3801
