"""Bad input, generated: random configs, headers and bodies against the real gateway.

Whatever a client sends, the gateway answers with a status it means (never a 500 of its own),
its own errors are JSON that says what was wrong, the worker keeps serving, and every request
gets exactly one log row. The generator is seeded, so a failure repeats; it draws from the
config keys and header names the gateway reads, with values of every JSON type, out-of-range
numbers, odd strings and deep nesting.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import aiohttp

from proxy.handler import SERVICES
from tests.conftest import flush_logs

SEED = 20261202
REQUESTS = 300

CONFIG_KEYS = (
    "provider", "api_key", "apiKey", "virtual_key", "custom_host", "customHost",
    "override_params", "overrideParams", "forward_headers", "request_timeout", "retry",
    "cache", "strategy", "targets", "weight", "name", "on_status_codes", "mode", "options",
    "cache_age", "resource_name", "deployment_id", "api_version", "strict_open_ai_compliance",
    "attempts", "conditions", "query", "then", "default", "max_age",
)  # fmt: skip
HEADERS = (
    "x-portkey-provider", "x-portkey-mode", "x-portkey-config", "x-portkey-custom-host",
    "x-portkey-retry-count", "x-portkey-request-timeout", "x-portkey-cache",
    "x-portkey-cache-force-refresh", "x-portkey-metadata", "x-portkey-trace-id",
    "x-portkey-forward-headers", "x-portkey-azure-resource-name",
    "x-portkey-azure-deployment-id", "x-portkey-azure-api-version", "x-portkey-span-id",
    "x-portkey-cache-namespace", "Authorization", "Content-Type",
)  # fmt: skip
PROVIDERS = ("openai", "anthropic", "azure-openai", "groq", "nope", "", "OPENAI", "vllm")
MODES = ("single", "fallback", "loadbalance", "conditional", "ab_test", "bogus", "semantic")
PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/x/y", "/v1/proxy/a")


def _scalar(rnd: random.Random, upstream_url: str) -> Any:
    return rnd.choice(
        (
            None,
            True,
            0,
            -1,
            2**63,
            1e308,
            -0.5,
            "",
            "x" * rnd.randint(1, 300),
            "\u00e9\u2603\U0001f600",
            "fallback",
            "simple",
            "semantic",
            "max-age=abc",
            rnd.choice(PROVIDERS),
            rnd.choice(MODES),
            upstream_url + "/v1",
            "http://127.0.0.1:1/v1",
            "not a url",
            429,
            503,
            99,
            600,
        )
    )


def _value(rnd: random.Random, depth: int, upstream_url: str) -> Any:
    roll = rnd.random()
    if depth > 4 or roll < 0.5:
        return _scalar(rnd, upstream_url)
    if roll < 0.7:
        return [_value(rnd, depth + 1, upstream_url) for _ in range(rnd.randint(0, 3))]
    return _config(rnd, depth + 1, upstream_url)


def _config(rnd: random.Random, depth: int, upstream_url: str) -> dict[str, Any]:
    keys = rnd.sample(CONFIG_KEYS, rnd.randint(0, 5))
    out: dict[str, Any] = {k: _value(rnd, depth, upstream_url) for k in keys}
    if rnd.random() < 0.5:
        out["provider"] = rnd.choice(PROVIDERS)
    if rnd.random() < 0.3:
        out["strategy"] = {"mode": rnd.choice(MODES), "on_status_codes": [rnd.choice((429, 0))]}
        out["targets"] = [_config(rnd, depth + 2, upstream_url) for _ in range(rnd.randint(0, 3))]
    if rnd.random() < 0.5:
        out["custom_host"] = upstream_url + "/v1"
    return out


def _request(rnd: random.Random, upstream_url: str) -> tuple[str, dict[str, str], bytes]:
    headers: dict[str, str] = {}
    for name in rnd.sample(HEADERS, rnd.randint(1, 6)):
        value = _value(rnd, 3, upstream_url)
        if name == "x-portkey-config" and rnd.random() < 0.7:
            value = json.dumps(_config(rnd, 0, upstream_url))
        headers[name] = value if isinstance(value, str) else json.dumps(value)
    if rnd.random() < 0.6:
        headers["x-portkey-provider"] = rnd.choice(PROVIDERS)
        headers["x-portkey-custom-host"] = upstream_url + "/v1"
    headers = {k: v.encode("utf-8", "replace").decode("latin-1")[:4000] for k, v in headers.items()}
    body_kind = rnd.random()
    if body_kind < 0.5:
        body = json.dumps(
            {"model": _scalar(rnd, upstream_url), "messages": [], "stream": rnd.random() < 0.3}
        ).encode()
    elif body_kind < 0.7:
        body = json.dumps(_value(rnd, 0, upstream_url)).encode()
    elif body_kind < 0.85:
        body = bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 64)))
    else:
        body = b""
    return rnd.choice(PATHS), headers, body


async def test_random_input_never_breaks_the_gateway(make_gateway, upstream, http):
    gateway = await make_gateway(upstream_timeout_s=2)
    rnd = random.Random(SEED)
    statuses: dict[int, int] = {}
    for i in range(REQUESTS):
        path, headers, body = _request(rnd, upstream.url)
        async with http.post(gateway.url + path, headers=headers, data=body) as r:
            raw = await r.read()
            statuses[r.status] = statuses.get(r.status, 0) + 1
            where = f"request {i}: {path} {headers} {body[:80]!r} -> {r.status} {raw[:200]!r}"
            assert r.status != 500, where
            assert r.headers.get("x-portkey-trace-id"), where
            if r.headers.get("x-portkey-gateway-exception") == "true":
                err = json.loads(raw)
                message = err.get("message") or err.get("error", {}).get("message")
                assert isinstance(message, str) and message, where
    assert statuses.get(200) and statuses.get(400), statuses  # both refusals and answers
    async with http.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "m", "messages": []},
        headers={"x-portkey-provider": "openai", "Authorization": "Bearer k"},
    ) as r:
        assert r.status == 200  # the worker still serves
    await flush_logs(gateway)
    async with http.get(gateway.url + "/v1/analytics") as r:
        summary = await r.json()
    assert summary["totals"]["requests"] == REQUESTS + 1, summary["totals"]


ADMIN_PARAMS = (
    "trace_id", "provider", "model", "status", "cache_status", "since", "until", "limit",
    "cursor", "group_by", "format", "metadata._user", "metadata.x", "page",
)  # fmt: skip
ADMIN_GETS = (
    "/v1/logs", "/v1/logs/export", "/v1/analytics", "/v1/feedback", "/v1/configs",
    "/v1/logs/zz", "/v1/logs/19869962b4f55755", "/v1/configs/pc-nope",
    "/v1/configs/pc-nope/versions/x", "/v1/cache/stats",
)  # fmt: skip
ADMIN_WRITES = (
    ("POST", "/v1/feedback"), ("PUT", "/v1/feedback/x"), ("POST", "/v1/configs"),
    ("PUT", "/v1/configs/pc-x"), ("DELETE", "/v1/configs/pc-x"),
)  # fmt: skip
FEEDBACK_KEYS = ("trace_id", "value", "weight", "metadata", "config", "id", "name")


async def test_random_admin_input_is_refused_cleanly(gateway, upstream, http):
    """The log, feedback and config APIs: random query strings and bodies get 2xx or a 4xx
    JSON error, never a 500."""
    rnd = random.Random(SEED)
    for i in range(REQUESTS):
        if rnd.random() < 0.5:
            method, path = "GET", rnd.choice(ADMIN_GETS)
            params = {k: str(_scalar(rnd, upstream.url)) for k in rnd.sample(ADMIN_PARAMS, 3)}
            body = b""
        else:
            method, path = rnd.choice(ADMIN_WRITES)
            params = {}
            doc = {k: _value(rnd, 2, upstream.url) for k in rnd.sample(FEEDBACK_KEYS, 3)}
            body = json.dumps(doc).encode() if rnd.random() < 0.9 else b"{nope"
        async with http.request(method, gateway.url + path, params=params, data=body) as r:
            raw = await r.read()
            where = (
                f"request {i}: {method} {path} {params} {body[:120]!r} -> {r.status} {raw[:200]!r}"
            )
            assert r.status < 500, where
            if r.status >= 400:
                assert json.loads(raw), where


FAULTS = ("500", "503", "429", "400", "slow:80", "slow:400", "cut", "reset", "stall:300", "ok")


def _plan(rnd: random.Random) -> dict[str, Any]:
    """A random strategy over the fake upstream (as openai and groq), with retries and
    timeouts small enough that a run stays short."""
    leaves = [
        {"provider": rnd.choice(("openai", "groq")), "api_key": f"sk-{i}"}
        for i in range(rnd.randint(1, 3))
    ]
    for leaf in leaves:
        if rnd.random() < 0.3:
            leaf["retry"] = {"attempts": rnd.randint(0, 2)}
        if rnd.random() < 0.3:
            leaf["request_timeout"] = rnd.choice((50, 250))
    if len(leaves) == 1:
        return leaves[0]
    mode = rnd.choice(("fallback", "loadbalance"))
    plan: dict[str, Any] = {"strategy": {"mode": mode}, "targets": leaves}
    if rnd.random() < 0.3:
        plan["retry"] = {"attempts": 1, "on_status_codes": [429, 503]}
    return plan


async def test_random_faults_and_strategies_keep_their_promises(make_gateway, upstream, http):
    """Scripted upstream faults under random strategies: never a 500 of the gateway's own, a
    stream ends with [DONE] unless the upstream cut it, a client may leave mid-stream, and every
    request is one log row."""
    gateway = await make_gateway(upstream_timeout_s=1)
    rnd = random.Random(SEED)
    rounds = 120
    for i in range(rounds):
        upstream.fake.script[:] = [rnd.choice(FAULTS) for _ in range(rnd.randint(0, 4))]
        faults = list(upstream.fake.script)
        plan = _plan(rnd)
        stream = rnd.random() < 0.4
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        headers = {"x-portkey-config": json.dumps(plan)}
        where = f"round {i}: faults {faults} plan {plan} stream {stream}"
        async with http.post(gateway.url + "/v1/chat/completions", json=body, headers=headers) as r:
            own = r.headers.get("x-portkey-gateway-exception") == "true"
            assert not (own and r.status == 500), where  # the fake's own 500s pass through
            assert r.headers.get("x-portkey-trace-id"), where
            if stream and r.status == 200 and rnd.random() < 0.2:
                await r.content.readany()
                r.close()  # the client leaves mid-stream
                continue
            try:
                raw = await r.read()
                cut = False
            except aiohttp.ClientPayloadError:
                cut = True
        if r.status == 200 and stream:
            assert cut or raw.rstrip().endswith(b"data: [DONE]"), where
            assert not cut or "cut" in faults, where
        elif r.status == 200:
            assert json.loads(raw)["choices"], where
        else:
            assert not cut, where
            assert json.loads(raw), where
    upstream.fake.script.clear()
    await flush_logs(gateway)
    async with http.get(gateway.url + "/v1/analytics") as r:
        assert (await r.json())["totals"]["requests"] == rounds


async def test_concurrent_faults_never_poison_the_cache(make_gateway, upstream, http):
    """Many clients at once ask the same cached questions while the upstream fails in random
    ways, some clients force a refresh and some leave mid-stream: whatever the cache keeps and
    serves afterwards is a whole, successful answer."""
    gateway = await make_gateway(upstream_timeout_s=1)
    rnd = random.Random(SEED)
    config = {"provider": "openai", "api_key": "sk-c", "cache": {"mode": "simple"}}
    headers = {"x-portkey-config": json.dumps(config)}

    def body(q: int, stream: bool) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": f"q{q}"}], "stream": stream}

    async def one(q: int, stream: bool, leave: bool, refresh: bool) -> None:
        sent = {**headers, "x-portkey-cache-force-refresh": "true"} if refresh else headers
        try:
            async with http.post(
                gateway.url + "/v1/chat/completions", json=body(q, stream), headers=sent
            ) as r:
                own = r.headers.get("x-portkey-gateway-exception") == "true"
                assert not (own and r.status == 500)
                if leave:
                    await r.content.readany()
                    r.close()
                    return
                await r.read()
        except aiohttp.ClientPayloadError:
            pass  # a cut stream

    for _ in range(6):
        upstream.fake.script[:] = [rnd.choice(FAULTS) for _ in range(12)]
        await asyncio.gather(
            *(
                one(rnd.randrange(3), rnd.random() < 0.5, rnd.random() < 0.15, rnd.random() < 0.4)
                for _ in range(16)
            )
        )
    upstream.fake.script.clear()
    await gateway.app[SERVICES].extras["cache"].flush()
    for q in range(3):
        for stream in (False, True):
            async with http.post(
                gateway.url + "/v1/chat/completions", json=body(q, stream), headers=headers
            ) as r:
                raw = await r.read()
                where = (
                    f"q{q} stream={stream}: {r.headers.get('x-portkey-cache-status')} {raw[:200]!r}"
                )
                assert r.status == 200, where
                if stream:
                    assert raw.rstrip().endswith(b"data: [DONE]"), where
                else:
                    assert json.loads(raw)["choices"][0]["message"]["content"], where


UPGRADE_HEADERS = (
    ("Upgrade", ("websocket", "WebSocket", "h2c", "")),
    ("Connection", ("Upgrade", "keep-alive, Upgrade", "close", "")),
    ("Sec-WebSocket-Version", ("13", "8", "x", "")),
    ("Sec-WebSocket-Key", ("dGhlIHNhbXBsZSBub25jZQ==", "short", "")),
    ("Sec-WebSocket-Protocol", ("realtime", "a, b", ",,", "")),
    ("Sec-WebSocket-Extensions", ("permessage-deflate", "bogus", "")),
)


async def test_random_realtime_upgrades_are_answered_cleanly(make_gateway, upstream, http):
    """``GET /v1/realtime`` with random upgrade headers, routing headers and queries: a
    socket (101), an answer or a JSON error, never a 500 of the gateway's own."""
    gateway = await make_gateway(upstream_timeout_s=1)
    rnd = random.Random(SEED)
    for i in range(REQUESTS // 3):
        _, headers, _ = _request(rnd, upstream.url)
        for name, values in UPGRADE_HEADERS:
            if rnd.random() < 0.8:
                headers[name] = rnd.choice(values)
        if rnd.random() < 0.3:
            upstream.fake.script[:] = [rnd.choice(("401", "503", "reset", "slow:50", "ok"))]
        query = rnd.choice(("?model=gpt-realtime", "", "?model=", "?model=%ff&x=%zz"))
        url = gateway.url + "/v1/realtime" + query
        async with http.get(url, headers=headers) as r:
            raw = b"" if r.status == 101 else await r.read()
            where = f"request {i}: {headers} {query} -> {r.status} {raw[:200]!r}"
            own = r.headers.get("x-portkey-gateway-exception") == "true"
            assert not (own and r.status == 500), where
            if own:
                assert json.loads(raw), where
    upstream.fake.script.clear()
