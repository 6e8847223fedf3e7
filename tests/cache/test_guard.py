"""The semantic decision (cosine ≥ threshold, then the lexical guard) on the pair sets.

tests/data/semantic_pairs_tuning.json chose the rules and the threshold;
tests/data/semantic_pairs_heldout.json was written at the same time and only measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cache.guard import DEFAULT_THRESHOLD, allows, explain

DATA = Path(__file__).parent.parent / "data"
# Floors sit a little under what was measured (tuning 47/60, held-out 28/40 at 0.80).
RECALL_FLOOR = {"tuning": 45, "heldout": 26}


def decide(minilm, a: str, b: str) -> bool:
    return float(minilm.embed_sync(a) @ minilm.embed_sync(b)) >= DEFAULT_THRESHOLD and allows(a, b)


@pytest.mark.parametrize("name", ["tuning", "heldout"])
def test_zero_false_hits_and_recall_floor(minilm, name):
    sets = json.loads((DATA / f"semantic_pairs_{name}.json").read_text())
    assert len(sets["should_hit"]) >= (50 if name == "tuning" else 30)
    assert len(sets["must_not_hit"]) >= (50 if name == "tuning" else 30)
    false_hits = [p for p in sets["must_not_hit"] if decide(minilm, *p)]
    hits = sum(decide(minilm, *p) for p in sets["should_hit"])
    print(
        f"{name}: {hits}/{len(sets['should_hit'])} paraphrases hit, "
        f"{len(false_hits)}/{len(sets['must_not_hit'])} false hits"
    )
    assert false_hits == []
    assert hits >= RECALL_FLOOR[name]


@pytest.mark.parametrize(
    "a,b",
    [
        ("What is the capital of France?", "What is the capital of Germany?"),
        ("5 km to miles", "5 miles to km"),
        ("dog bites man", "man bites dog"),
        ("What year did World War II end?", "What year did World War I end?"),
        ("world war ii", "world war i"),
        ("Give me three tips", "Give me 4 tips"),
        ("Is the dog food better than the cat food?", "Is the cat food better than the dog food?"),
        ("Sort a list of dicts by key", "Sort a dict of lists by key"),
        ("When did the store open?", "When will the store open?"),
        ("Translate 'I am here' to French", "Translate 'I was here' to French"),
        ("Foods with gluten", "Foods without gluten"),
        ("Is 5+3 equal to 8?", "Is 5-3 equal to 8?"),
        ("List fruits", "List red fruits"),
    ],
)
def test_guard_blocks(a, b):
    assert not allows(a, b), explain(a, b)


@pytest.mark.parametrize(
    "a,b",
    [
        ("Give me three tips for sleep", "Give me 3 tips for sleep"),
        ("What happened in World War 2?", "What happened in World War II?"),
        ("Who painted the Mona Lisa?", "The Mona Lisa was painted by whom?"),
        ("Tell me a joke about programmers", "Tell me a programmer joke"),
        ("How do I reverse a list?", "How to reverse a list"),
        ("Convert 1,000 kilometres to miles", "convert 1000 km to miles"),
        ("How tall is Mount Everest?", "What is the height of Mount Everest?"),
        ("How can I check which version of Python I have?", "How can I check my Python version?"),
    ],
)
def test_guard_allows(a, b):
    assert allows(a, b), explain(a, b)
