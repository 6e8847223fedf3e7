"""Strategies over real sockets: fallback, retries, timeouts, load balance, conditional, streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from tests.conftest import openai_headers

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def post(http, gw, cfg=None, body=CHAT, headers=None, path="/v1/chat/completions"):
    h = dict(headers or {})
    if cfg is not None:
        h["x-portkey-config"] = json.dumps(cfg)
    t0 = time.perf_counter()
    async with http.post(gw.url + path, json=body, headers=h) as r:
        data = await r.read()
        return r.status, r.headers, data, (time.perf_counter() - t0) * 1000


def fallback(*targets, **extra):
    return {"strategy": {"mode": "fallback"}, "targets": list(targets), **extra}


async def test_fallback_keys_hosts_and_params_stay_with_their_target(gateway, upstream, http):
    cfg = fallback(
        {
            "provider": "openai",
            "api_key": "sk-first-000",
            "custom_host": upstream.url + "/alt/v1",
            "override_params": {"model": "a", "max_tokens": 5},
        },
        {"provider": "groq", "api_key": "gsk-second-111", "override_params": {"model": "b"}},
    )
    upstream.fake.script.append("500")
    status, headers, _, _ = await post(http, gateway, cfg)
    assert status == 200
    assert headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert headers["x-portkey-provider"] == "groq"
    first, second = upstream.fake.seen
    assert first.path == "/alt/v1/chat/completions" and second.path == "/v1/chat/completions"
    assert first.headers["Authorization"] == "Bearer sk-first-000"
    assert second.headers["Authorization"] == "Bearer gsk-second-111"
    assert (first.json()["model"], first.json()["max_tokens"]) == ("a", 5)
    assert second.json()["model"] == "b" and "max_tokens" not in second.json()


async def test_fallback_on_connection_error_and_on_timeout(gateway, upstream, http):
    dead = {"provider": "openai", "custom_host": "http://127.0.0.1:9/v1"}
    status, headers, _, _ = await post(http, gateway, fallback(dead, {"provider": "groq"}))
    assert status == 200 and headers["x-portkey-last-used-option-index"] == "config.targets[1]"

    upstream.fake.script.append("slow:500")
    slow = {"provider": "openai", "request_timeout": 150}
    status, headers, _, ms = await post(http, gateway, fallback(slow, {"provider": "groq"}))
    assert status == 200 and headers["x-portkey-provider"] == "groq"
    assert 150 <= ms < 400


async def test_all_targets_failing_returns_the_last_answer(gateway, upstream, http):
    upstream.fake.script.extend(["500", "429"])
    status, headers, body, _ = await post(
        http, gateway, fallback({"provider": "openai"}, {"provider": "groq"})
    )
    assert status == 429 and headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert json.loads(body)["error"]["message"] == "fake upstream error 429"


async def test_retry_attempt_count_header(gateway, upstream, http):
    cfg = {"provider": "openai", "retry": {"attempts": 3}}
    upstream.fake.script.extend(["503", "502"])
    status, headers, _, _ = await post(http, gateway, cfg)
    assert (status, headers["x-portkey-retry-attempt-count"]) == (200, "2")
    assert len(upstream.fake.seen) == 3

    upstream.fake.script.extend(["500"] * 4)
    status, headers, _, _ = await post(http, gateway, cfg)
    assert (status, headers["x-portkey-retry-attempt-count"]) == (500, "-1")
    assert len(upstream.fake.seen) == 7

    upstream.fake.script.append("500")
    status, headers, _, _ = await post(http, gateway, {"provider": "openai"})
    assert (status, headers["x-portkey-retry-attempt-count"]) == (500, "0")


async def test_retry_after_is_honoured_up_to_the_cap(make_gateway, upstream, http):
    gw = await make_gateway(retry_after_cap_ms=500)
    upstream.fake.retry_after = "0.3"
    upstream.fake.script.append("429")
    status, headers, _, ms = await post(http, gw, {"provider": "openai", "retry": {"attempts": 2}})
    assert status == 200 and headers["x-portkey-retry-attempt-count"] == "1" and ms >= 300

    upstream.fake.retry_after = "2"  # past the cap: no retry, no wait
    upstream.fake.script.append("429")
    status, headers, _, ms = await post(http, gw, {"provider": "openai", "retry": {"attempts": 2}})
    assert (status, headers["x-portkey-retry-attempt-count"]) == (429, "-1") and ms < 300


async def test_timeout_answers_408_close_to_the_bound(gateway, upstream, http):
    upstream.fake.script.append("slow:600")
    status, _, body, ms = await post(http, gateway, {"provider": "openai", "request_timeout": 200})
    assert status == 408 and 200 <= ms < 350, ms  # margin for a loaded CI machine
    assert json.loads(body)["error"]["type"] == "timeout_error"


async def test_a_timed_out_attempt_is_retried(gateway, upstream, http):
    upstream.fake.script.extend(["slow:400", "ok"])
    cfg = {"provider": "openai", "request_timeout": 100, "retry": {"attempts": 1}}
    status, headers, _, ms = await post(http, gateway, cfg)
    assert (status, headers["x-portkey-retry-attempt-count"]) == (200, "1") and ms < 350


async def test_streams_decide_before_the_first_byte_and_never_retry_after(gateway, upstream, http):
    stream = {**CHAT, "stream": True}
    cfg = fallback({"provider": "openai", "request_timeout": 150}, {"provider": "groq"})
    upstream.fake.script.append("stall:450")  # headers at once, first chunk too late
    status, headers, body, _ = await post(http, gateway, cfg, body=stream)
    assert status == 200 and headers["x-portkey-provider"] == "groq"
    assert body.endswith(b"data: [DONE]\n\n")

    upstream.fake.seen.clear()
    upstream.fake.script.extend(["503", "ok"])
    retry = {"provider": "openai", "retry": {"attempts": 2}}
    status, headers, body, _ = await post(http, gateway, retry, body=stream)
    assert status == 200 and headers["x-portkey-retry-attempt-count"] == "1"
    assert body.count(b"data: ") == 7 and len(upstream.fake.seen) == 2

    upstream.fake.seen.clear()
    upstream.fake.script.append("cut")  # fails after the first bytes: committed, not retried
    h = {"x-portkey-config": json.dumps(fallback(retry, {"provider": "groq"}))}
    async with http.post(gateway.url + "/v1/chat/completions", json=stream, headers=h) as r:
        assert r.status == 200 and r.headers["x-portkey-provider"] == "openai"
        got = b""
        try:
            async for chunk in r.content.iter_any():
                got += chunk
        except Exception:
            pass
    assert b"[DONE]" not in got and len(upstream.fake.seen) == 1


async def test_loadbalance_follows_weights_across_requests(gateway, upstream, http):
    cfg = {
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"provider": "openai", "weight": 3},
            {"provider": "groq", "weight": 1},
            {"provider": "anyscale", "weight": 0},
        ],
    }
    n = 400
    results = await asyncio.gather(*(post(http, gateway, cfg) for _ in range(n)))
    counts = Counter(h["x-portkey-provider"] for s, h, _, _ in results if s == 200)
    assert sum(counts.values()) == n and "anyscale" not in counts
    assert abs(counts["openai"] / n - 0.75) < 0.08, counts


async def test_conditional_routes_on_metadata_and_params(gateway, upstream, http):
    cfg = {
        "strategy": {
            "mode": "conditional",
            "conditions": [
                {"query": {"metadata.tier": {"$in": ["free", "trial"]}}, "then": "cheap"},
                {
                    "query": {
                        "$and": [
                            {"params.model": {"$regex": "^gpt-4"}},
                            {"params.max_tokens": {"$gte": 1000}},
                        ]
                    },
                    "then": "big",
                },
            ],
            "default": "base",
        },
        "targets": [
            {"name": "cheap", "provider": "groq"},
            {"name": "big", "provider": "openai"},
            {"name": "base", "provider": "anyscale"},
        ],
    }
    meta = {"x-portkey-metadata": json.dumps({"tier": "trial"})}
    cases = [
        (CHAT, meta, "groq"),
        ({**CHAT, "model": "gpt-4o", "max_tokens": 2000}, {}, "openai"),
        ({**CHAT, "model": "gpt-4o", "max_tokens": 10}, {}, "anyscale"),
    ]
    for body, headers, provider in cases:
        status, h, _, _ = await post(http, gateway, cfg, body=body, headers=headers)
        assert (status, h["x-portkey-provider"]) == (200, provider), body

    del cfg["strategy"]["default"]
    status, h, body, _ = await post(http, gateway, cfg, body=CHAT)
    assert status == 400 and "did not resolve" in json.loads(body)["message"]


async def test_legacy_config_and_retry_header_behave_like_the_current_form(gateway, upstream, http):
    legacy = {
        "mode": "fallback",
        "retry": 1,
        "options": [{"provider": "openai"}, {"provider": "groq"}],
    }
    upstream.fake.script.extend(["503", "503", "ok"])
    status, h, _, _ = await post(http, gateway, legacy)
    assert (status, h["x-portkey-last-used-option-index"]) == (200, "config.targets[1]")
    assert len(upstream.fake.seen) == 3

    upstream.fake.script.extend(["500", "500"])
    headers = openai_headers(**{"x-portkey-retry-count": "2"})
    status, h, _, _ = await post(http, gateway, headers=headers)
    assert (status, h["x-portkey-retry-attempt-count"]) == (200, "2")


async def test_bad_configs_are_400_json_never_a_stack_trace(gateway, http):
    cases = [
        (
            {
                "strategy": {"mode": "loadbalance"},
                "targets": [{"provider": "openai"}, {"weight": "x"}],
            },
            "targets[1].weight: expected a number",
        ),
        (
            {
                "strategy": {
                    "mode": "conditional",
                    "conditions": [{"query": {"a": {"$regex": "("}}, "then": "x"}],
                },
                "targets": [{"name": "x", "provider": "openai"}],
            },
            "strategy.conditions[0].query.a.$regex: invalid pattern",
        ),
        (json.loads('{"targets":[' * 200 + '{"provider":"openai"}' + "]}" * 200), "nested"),
    ]
    for cfg, needle in cases:
        status, headers, body, _ = await post(http, gateway, cfg)
        assert status == 400 and headers["Content-Type"].startswith("application/json")
        msg = json.loads(body)["message"]
        assert needle in msg and "Traceback" not in msg, msg
