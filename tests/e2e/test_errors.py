"""Errors the gateway raises itself: JSON, the right status, and the worker keeps serving."""

from __future__ import annotations

import json

from tests.conftest import openai_headers

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _post(http, url, **kw):
    async with http.post(url + "/v1/chat/completions", **kw) as r:
        return r.status, r.headers, await r.read()


async def test_missing_provider_is_400(gateway, http):
    status, headers, body = await _post(http, gateway.url, json=CHAT)
    assert status == 400
    assert json.loads(body) == {
        "status": "failure",
        "message": "Either x-portkey-config or x-portkey-provider header is required",
    }
    assert headers["Content-Type"].startswith("application/json")
    assert headers["x-portkey-trace-id"]


async def test_unknown_provider_is_400_naming_it(gateway, http):
    status, _, body = await _post(
        http, gateway.url, json=CHAT, headers={"x-portkey-provider": "nope-ai"}
    )
    assert status == 400
    assert "unknown provider 'nope-ai'" in json.loads(body)["message"]


async def test_malformed_headers_are_400_saying_which(gateway, http):
    cases = {
        "x-portkey-config": "{not json",
        "x-portkey-metadata": "[1,",
        "x-portkey-retry-count": "many",
        "x-portkey-request-timeout": "-5",
        "x-portkey-custom-host": "ftp://x",
        "x-portkey-mode": "proxy a b",
    }
    for name, value in cases.items():
        headers = openai_headers(**{name: value})
        if name == "x-portkey-mode":
            headers.pop("x-portkey-provider")
        status, _, body = await _post(http, gateway.url, json=CHAT, headers=headers)
        assert status == 400, name
        msg = json.loads(body)["message"]
        assert (name in msg) or ("config" in msg), (name, msg)


async def test_bad_config_field_names_the_path(gateway, http):
    cfg = {
        "strategy": {"mode": "loadbalance"},
        "targets": [{"provider": "openai"}, {"provider": "openai", "weight": "heavy"}],
    }
    status, _, body = await _post(
        http, gateway.url, json=CHAT, headers={"x-portkey-config": json.dumps(cfg)}
    )
    assert status == 400
    assert "targets[1].weight: expected a number" in json.loads(body)["message"]


async def test_body_over_limit_is_413(make_gateway, http):
    gw = await make_gateway(max_body_bytes=1000)
    status, _, body = await _post(http, gw.url, data=b"x" * 5000, headers=openai_headers())
    assert status == 413
    assert "1000" in json.loads(body)["status" if False else "message"]


async def test_unreachable_upstream_is_502_json(make_gateway, http):
    gw = await make_gateway(providers={"openai": {"base_url": "http://127.0.0.1:9/v1"}})
    status, headers, body = await _post(http, gw.url, json=CHAT, headers=openai_headers())
    assert status == 502
    assert json.loads(body)["error"]["type"] == "upstream_unreachable"


async def test_a_connection_dropped_once_is_sent_again_twice_is_502(gateway, upstream, http):
    """A connection that goes before any answer (an upstream closing an idle keep-alive
    connection as the request goes out, or resetting it) gets the request once more, on
    another connection; dropped again, the client gets a 502."""
    for fault in ("drop", "reset"):
        upstream.fake.script[:] = [fault]
        status, _, _ = await _post(http, gateway.url, json=CHAT, headers=openai_headers())
        assert status == 200, fault
        assert len(upstream.fake.seen) == 2
        assert upstream.fake.seen[0].body == upstream.fake.seen[1].body
        upstream.fake.seen.clear()
    upstream.fake.script[:] = ["reset", "drop"]
    status, _, body = await _post(http, gateway.url, json=CHAT, headers=openai_headers())
    assert status == 502
    assert json.loads(body)["error"]["type"] == "upstream_unreachable"


async def test_silent_upstream_is_504_after_default_timeout(make_gateway, upstream, http):
    gw = await make_gateway(upstream_timeout_s=0.2)
    upstream.fake.script.append("slow:1000")
    status, _, body = await _post(http, gw.url, json=CHAT, headers=openai_headers())
    assert status == 504
    assert json.loads(body)["error"]["type"] == "upstream_timeout"


async def test_configured_request_timeout_is_408(gateway, upstream, http):
    upstream.fake.script.append("slow:1000")
    status, _, body = await _post(
        http, gateway.url, json=CHAT, headers=openai_headers(**{"x-portkey-request-timeout": "100"})
    )
    assert status == 408
    err = json.loads(body)["error"]
    assert err["message"] == "Request exceeded the timeout sent in the request: 100ms"
    assert err["type"] == "timeout_error"


async def test_unknown_route_is_json_404(gateway, http):
    async with http.get(gateway.url + "/nothing/here") as r:
        assert r.status == 404
        assert await r.json() == {"message": "Not Found", "ok": False}


async def test_key_never_in_gateway_errors(make_gateway, http):
    gw = await make_gateway(providers={"openai": {"base_url": "http://127.0.0.1:9/v1"}})
    secret = "sk-very-secret-key-42"
    cfg = json.dumps({"provider": "openai", "api_key": secret, "weight": "x"})
    for headers in ({"x-portkey-config": cfg}, openai_headers(key=secret)):
        status, resp_headers, body = await _post(http, gw.url, json=CHAT, headers=headers)
        assert status in (400, 502)
        assert secret not in body.decode() and secret not in str(dict(resp_headers))


async def test_worker_survives_garbage_then_serves(gateway, http):
    for raw in (b"\xff\xfe", b"{", b"[]" * 1000):
        async with http.post(
            gateway.url + "/v1/chat/completions",
            data=raw,
            headers={"x-portkey-config": '{"provider": "openai", "override_params": {"a": 1}}'},
        ) as r:
            assert r.status == 400
    async with http.post(
        gateway.url + "/v1/chat/completions", json=CHAT, headers=openai_headers()
    ) as r:
        assert r.status == 200
