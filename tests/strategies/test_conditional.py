"""Conditional routing: operators, contexts, defaults, and validation (no sockets)."""

from __future__ import annotations

import msgspec
import pytest

from proxy.config import ConfigError, config_from_object, resolve
from proxy.errors import GatewayError
from proxy.providers import REGISTRY
from strategies.conditional import matches
from tests.fakes.playbook import Playbook, make_call

CTX = {
    "metadata": {"tier": "pro", "user": "u-17", "score": "42"},
    "params": {"model": "gpt-4o-mini", "max_tokens": 256, "temperature": 0.2, "tags": ["a"]},
    "url": {"pathname": "/v1/chat/completions"},
}

CASES = [
    ({"metadata.tier": "pro"}, True),
    ({"metadata.tier": "free"}, False),
    ({"metadata.tier": {"$eq": "pro"}}, True),
    ({"metadata.tier": {"$ne": "pro"}}, False),
    ({"metadata.missing": {"$ne": "pro"}}, True),
    ({"metadata.missing": {"$eq": None}}, False),
    ({"params.max_tokens": {"$gt": 255}}, True),
    ({"params.max_tokens": {"$gt": 256}}, False),
    ({"params.max_tokens": {"$gte": 256}}, True),
    ({"params.max_tokens": {"$lt": 256}}, False),
    ({"params.max_tokens": {"$lte": 256}}, True),
    ({"metadata.score": {"$gt": 41.5}}, True),  # numeric strings compare as numbers
    ({"params.model": {"$gt": 1}}, False),  # not a number: no match
    ({"params.missing": {"$lt": 1}}, False),
    ({"params.model": {"$in": ["gpt-4o", "gpt-4o-mini"]}}, True),
    ({"params.model": {"$in": ["gpt-4o"]}}, False),
    ({"params.model": {"$nin": ["gpt-4o"]}}, True),
    ({"params.missing": {"$nin": ["x"]}}, True),
    ({"params.missing": {"$in": ["x"]}}, False),
    ({"params.model": {"$regex": "^gpt-4o"}}, True),
    ({"params.model": {"$regex": "claude"}}, False),
    ({"params.max_tokens": {"$regex": "256"}}, False),  # only strings match patterns
    ({"params.tags.0": "a"}, True),
    ({"url.pathname": {"$regex": "chat"}}, True),
    ({"params.max_tokens": {"$gt": 100, "$lt": 300}}, True),
    ({"params.max_tokens": {"$gt": 100, "$lt": 200}}, False),
    ({"metadata.tier": "pro", "params.model": "other"}, False),  # keys are and-ed
    ({"$and": [{"metadata.tier": "pro"}, {"params.temperature": {"$lte": 0.5}}]}, True),
    ({"$and": [{"metadata.tier": "pro"}, {"params.temperature": {"$gt": 0.5}}]}, False),
    ({"$or": [{"metadata.tier": "free"}, {"metadata.user": {"$regex": "^u-1"}}]}, True),
    ({"$or": [{"metadata.tier": "free"}, {"metadata.user": "nobody"}]}, False),
    ({"$or": [{"$and": [{"metadata.tier": "pro"}, {"params.max_tokens": 256}]}]}, True),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_operators(query, expected):
    assert matches(query, CTX) is expected


def routed(conditions, default=None):
    strategy = {"mode": "conditional", "conditions": conditions}
    if default:
        strategy["default"] = default
    return {
        "strategy": strategy,
        "targets": [
            {"name": "fast", "provider": "groq"},
            {"name": "smart", "provider": "openai"},
            {"name": "cheap", "provider": "anthropic"},
        ],
    }


CONDITIONS = [
    {"query": {"metadata.tier": "free"}, "then": "cheap"},
    {"query": {"params.model": {"$regex": "^gpt"}}, "then": "smart"},
]


async def test_first_matching_condition_wins_then_default():
    body = msgspec.json.encode({"model": "gpt-4o"})
    book = Playbook()
    r = await book.route(routed(CONDITIONS, "fast"), make_call(body, {"tier": "free"}))
    assert r.target_path == "config.targets[2]"
    r = await book.route(routed(CONDITIONS, "fast"), make_call(body, {"tier": "pro"}))
    assert r.target_path == "config.targets[1]"
    r = await book.route(routed(CONDITIONS, "fast"), make_call(b'{"model": "llama"}'))
    assert r.target_path == "config.targets[0]"


async def test_no_match_and_no_default_is_a_400():
    with pytest.raises(GatewayError) as e:
        await Playbook().route(routed(CONDITIONS), make_call(b'{"model": "llama"}'))
    assert e.value.status == 400 and "did not resolve" in e.value.message


async def test_body_is_not_decoded_when_no_query_reads_params():
    cfg = routed([{"query": {"metadata.tier": "free"}, "then": "cheap"}], "fast")
    r = await Playbook().route(cfg, make_call(b"not json at all", {"tier": "free"}))
    assert r.target_path == "config.targets[2]"
    # a body that is not JSON reads as empty params rather than failing the request
    r = await Playbook().route(routed(CONDITIONS, "fast"), make_call(b"\xff not json"))
    assert r.target_path == "config.targets[0]"


def check(conditions):
    with pytest.raises(ConfigError) as e:
        resolve(config_from_object(routed(conditions, "fast")), known_providers=REGISTRY)
    return str(e.value)


def test_bad_queries_are_rejected_at_validation_naming_the_path():
    where = "strategy.conditions[0].query"
    assert check([{"query": {"m": {"$bogus": 1}}, "then": "fast"}]).startswith(f"{where}.m.$bogus")
    assert check([{"query": {"m": {"$regex": "("}}, "then": "fast"}]).startswith(
        f"{where}.m.$regex: invalid pattern"
    )
    assert check([{"query": {"m": {"$in": "x"}}, "then": "fast"}]) == (
        f"{where}.m.$in: expected an array"
    )
    assert check([{"query": {"m": {"$gt": "ten"}}, "then": "fast"}]) == (
        f"{where}.m.$gt: expected a number"
    )
    assert check([{"query": {"$and": {"a": 1}}, "then": "fast"}]) == (
        f"{where}.$and: expected an array of queries"
    )
    assert check([{"query": {"$or": [{"a": 1}, {"b": {"$regex": 5}}]}, "then": "fast"}]) == (
        f"{where}.$or[1].b.$regex: expected a string"
    )
    assert check([{"query": {"$not": []}, "then": "fast"}]).startswith(f"{where}.$not")
    assert check([{"query": {"a": 1}, "then": "nobody"}]) == (
        "strategy.conditions[0].then: no target named 'nobody'"
    )
