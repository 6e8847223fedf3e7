"""Load balancing: weighted, per request, never falls back (no sockets)."""

from __future__ import annotations

import random
from collections import Counter

from strategies.loadbalance import pick
from tests.fakes.playbook import Playbook

N = 2000


def shares(weights, seed=1234):
    rnd = random.Random(seed)
    counts = Counter(pick(weights, rnd) for _ in range(N))
    return [counts[i] / N for i in range(len(weights))]


def test_choices_follow_the_weights_over_2000_requests():
    # 5/3/1 → 55.6 / 33.3 / 11.1 %; one standard deviation at n=2000 is about 1.1 points.
    got = shares([5, 3, 1])
    for share, want in zip(got, (5 / 9, 3 / 9, 1 / 9), strict=True):
        assert abs(share - want) < 0.035, got


def test_fractional_weights_and_equal_defaults():
    for weights in ([0.7, 0.3], [1, 1, 1, 1]):
        total = sum(weights)
        for share, w in zip(shares(weights, seed=99), weights, strict=True):
            assert abs(share - w / total) < 0.035, (weights, share)


def test_weight_zero_is_never_chosen():
    rnd = random.Random(5)
    counts = Counter(pick([0, 2, 0, 1], rnd) for _ in range(N))
    assert set(counts) == {1, 3} and abs(counts[1] / N - 2 / 3) < 0.035


def test_edge_of_the_range_still_picks_a_positive_weight():
    class Top(random.Random):
        def random(self):
            return 0.9999999999999999

    assert pick([1, 1, 0], Top()) == 1
    assert pick([1, 0, 0], Top()) == 0


async def test_one_target_per_request_and_no_fallback():
    cfg = {
        "strategy": {"mode": "loadbalance"},
        "targets": [{"provider": "openai", "weight": 1}, {"provider": "groq", "weight": 1}],
    }
    seen = Counter()
    for _ in range(200):
        book = Playbook({"config.targets[0]": [500], "config.targets[1]": [500]})
        r = await book.route(cfg)
        assert len(book.asked) == 1 and r.status == 500
        seen[book.asked[0]] += 1
    assert set(seen) == {"config.targets[0]", "config.targets[1]"}  # not sticky


async def test_nested_fallback_under_loadbalance_does_fall_back():
    cfg = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"weight": 0, "provider": "openai"},
            {
                "strategy": {"mode": "fallback"},
                "targets": [{"provider": "groq"}, {"provider": "anthropic"}],
            },
        ],
    }
    book = Playbook({"config.targets[1].targets[0]": [503]})
    r = await book.route(cfg)
    assert book.asked == ["config.targets[1].targets[0]", "config.targets[1].targets[1]"]
    assert r.status == 200
