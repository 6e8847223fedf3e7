"""Lexical guard: a semantic candidate above the cosine threshold is served only if this agrees.

Embeddings score word-order swaps and single-entity changes as near-identical ("5 km to miles"
vs "5 miles to km" ≈ 0.99; "capital of France" vs "of Germany" ≈ 0.95), so a threshold alone
cannot give zero false hits (research note §3). The guard reduces each prompt to what decides the
answer and demands that both reductions agree:

1. **Content words** must match as a multiset, after normalisation: case, contractions, light
   stemming, number words and Roman numerals → digits, units and common abbreviations → one
   spelling, a small table of safe synonyms (create/generate, recommend/suggest, …). Request
   framing ("can you tell me", "please", "how do I") and function words are dropped; negations,
   question words, comparatives and direction words are kept. Any word left unexplained on either
   side — an entity (France/Germany), a number (II/I), an antonym (ascending/descending) — blocks
   the hit. A one-sided extra word blocks it too ("fruits" vs "red fruits").
2. **Order** of the shared content words (with "to" kept as a marker) must be the same, except
   for changes that keep the roles: noun compound ↔ prepositional phrase ("programmer joke" ↔
   "joke about programmers", "Hamlet's plot" ↔ "plot of Hamlet"), "largest ocean" ↔ "ocean is
   the largest", and active ↔ passive when exactly one side is passive ("who painted X" ↔ "X was
   painted by whom"). "dog bites man" / "man bites dog" and "from A to B" / "from B to A" fail.

Quoted text ('…', "…") is compared literally, word for word. The guard errs towards a miss: a
miss costs one upstream call, a false hit serves a wrong answer.
"""

from __future__ import annotations

from collections import Counter

from cache.guard_tokens import (
    Token,
    _expand_contractions,
    _numbers,
    _passive_after,
    _raw_tokens,
    analyse,
)
from cache.guard_words import _PHRASES, BE, PREPS


def _passive(text: str) -> bool:
    lows = [w[1].lower() for w in _raw_tokens(text)]
    return any(
        w in ("is", "are", "was", "were", "been", "being") and _passive_after(lows, i)
        for i, w in enumerate(lows)
    )


def _bag(tokens: tuple[Token, ...]) -> Counter[str]:
    return Counter(t.norm for t in tokens if t.content)


def _lows(text: str) -> list[str]:
    for pat, rep in _PHRASES:
        text = pat.sub(rep, text)
    return [w[1].lower() for w in _numbers(_expand_contractions(_raw_tokens(text)))]


def _movable(
    x: str, tp: tuple[Token, ...], lows_p: list[str], tq: tuple[Token, ...], lows_q: list[str]
) -> bool:
    """``x`` is a modifier in Q ("Python list", "good exercises", "Hamlet's plot") and stands
    after a preposition or a copula in P ("list in Python", "exercises are good", "plot of
    Hamlet"), where nothing depends on it. Such a move keeps every word's role."""
    content_q = {t.pos for t in tq if t.content}
    content_p = {t.pos for t in tp if t.content}
    occ_p = [t.pos for t in tp if t.norm == x]
    occ_q = [t.pos for t in tq if t.norm == x]
    if len(occ_p) != 1 or len(occ_q) != 1:
        return False
    p, q = occ_p[0], occ_q[0]
    if q + 1 not in content_q or p + 1 in content_p:
        return False
    before = lows_p[max(0, p - 2) : p]
    if before[-1:] and before[-1] in PREPS | BE:
        return True
    return len(before) == 2 and before[1] in ("the", "a", "an") and before[0] in PREPS | BE


def _order_ok(ta: tuple[Token, ...], tb: tuple[Token, ...], a: str, b: str) -> bool:
    shared = set(t.norm for t in ta if t.order) & set(t.norm for t in tb if t.order)
    sa = [t.norm for t in ta if t.order and t.norm in shared]
    sb = [t.norm for t in tb if t.order and t.norm in shared]
    if sa == sb:
        return True
    if _passive(a) != _passive(b):
        return True
    lows_a, lows_b = _lows(a), _lows(b)
    movable = [
        x
        for x in shared
        if x != "to"
        and (_movable(x, ta, lows_a, tb, lows_b) or _movable(x, tb, lows_b, ta, lows_a))
    ]
    for n in (1, 2):
        for i, x in enumerate(movable):
            for y in movable[i + 1 :] if n == 2 else [x]:
                drop = {x, y}
                if [w for w in sa if w not in drop] == [w for w in sb if w not in drop]:
                    return True
    return False


def explain(a: str, b: str) -> str | None:
    """Why the guard blocks the pair (for tests and debugging), or None if it allows it."""
    ta, tb = analyse(a), analyse(b)
    bag_a, bag_b = _bag(ta), _bag(tb)
    if bag_a != bag_b:
        only_a = sorted((bag_a - bag_b).elements())
        only_b = sorted((bag_b - bag_a).elements())
        return f"words differ: {only_a} vs {only_b}"
    if not bag_a:
        return "no content words"
    if not _order_ok(ta, tb, a, b):
        return "word order differs"
    return None


def allows(a: str, b: str) -> bool:
    """True when prompts ``a`` and ``b`` may share an answer, as far as their words tell."""
    return explain(a, b) is None


DEFAULT_THRESHOLD = 0.80
"""Cosine (MiniLM) a candidate needs before the guard is asked. Chosen on the tuning set
(tests/data/semantic_pairs_tuning.json): every guard-approved paraphrase but one scores ≥ 0.80,
and the guard, not the threshold, is what stops near-misses (they score up to 0.997)."""
