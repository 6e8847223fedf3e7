from __future__ import annotations

import numpy as np
import pytest

from cache.semantic_index import SemanticIndex


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
