"""Requests through the real gateway to the fake provider, over loopback sockets."""

from __future__ import annotations

import asyncio
import gzip
import json

import requests
from yarl import URL

from tests.conftest import openai_headers

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_legacy_mode_header_with_requests(gateway, upstream):
    """Portkey's documented legacy snippet, with only the URL changed."""

    def post() -> requests.Response:
        return requests.post(
            gateway.url + "/v1/chat/completions",
            headers={
                "Authorization": "Bearer sk-anyscale-xyz",
                "x-portkey-api-key": "pk-gw-secret",
                "x-portkey-mode": "proxy anyscale",
                "Content-Type": "application/json",
            },
            json=CHAT,
            timeout=10,
        )

    r = await asyncio.to_thread(post)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    seen = upstream.fake.seen[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == "Bearer sk-anyscale-xyz"
    assert not any(k.lower().startswith("x-portkey") for k in seen.headers)
    assert "pk-gw-secret" not in json.dumps(seen.headers)
    assert r.headers["x-portkey-provider"] == "anyscale"
    assert r.headers["x-portkey-trace-id"]


async def test_body_is_forwarded_byte_for_byte(gateway, upstream, http):
    raw = b'{"model":"m",  "messages":[{"role":"user","content":"caf\\u00e9"}], "zz":1}'
    async with http.post(
        gateway.url + "/v1/chat/completions",
        data=raw,
        headers=openai_headers(**{"Content-Type": "application/json"}),
    ) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].body == raw


async def test_provider_header_and_trace_id_echo(gateway, upstream, http):
    async with http.post(
        gateway.url + "/v1/chat/completions",
        json=CHAT,
        headers=openai_headers(**{"x-portkey-trace-id": "trace-abc"}),
    ) as r:
        assert r.status == 200
        assert r.headers["x-portkey-trace-id"] == "trace-abc"
        assert r.headers["x-portkey-cache-status"] == "DISABLED"
        assert r.headers["x-portkey-last-used-option-index"] == "config"


async def test_config_header_with_provider_key_and_override_params(gateway, upstream, http):
    cfg = {
        "provider": "openai",
        "api_key": "sk-from-config",
        "override_params": {"model": "gpt-overridden", "temperature": 0},
    }
    headers = {"x-portkey-config": json.dumps(cfg), "Authorization": "Bearer OPENAI_API_KEY"}
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200
    seen = upstream.fake.seen[-1]
    assert seen.headers["Authorization"] == "Bearer sk-from-config"
    assert seen.json()["model"] == "gpt-overridden"
    assert seen.json()["temperature"] == 0
    assert seen.json()["messages"] == CHAT["messages"]


async def test_custom_host_header_points_anywhere(make_gateway, upstream, http):
    gw = await make_gateway(providers={"openai": {"base_url": "http://127.0.0.1:9/v1"}})
    headers = openai_headers(**{"x-portkey-custom-host": upstream.url + "/v1"})
    async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200
    cfg = {"provider": "vllm", "custom_host": upstream.url + "/v1"}
    async with http.post(
        gw.url + "/v1/completions",
        json={"model": "m", "prompt": "x"},
        headers={"x-portkey-config": json.dumps(cfg)},
    ) as r:
        assert r.status == 200
        assert (await r.json())["object"] == "text_completion"
    assert upstream.fake.seen[-1].path == "/v1/completions"


async def test_ollama_custom_host_gets_v1_suffix(gateway, upstream, http):
    headers = {"x-portkey-provider": "ollama", "x-portkey-custom-host": upstream.url}
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].path == "/v1/chat/completions"
    assert "Authorization" not in upstream.fake.seen[-1].headers


async def test_any_v1_path_get_and_delete_and_query(gateway, upstream, http):
    async with http.get(gateway.url + "/v1/models?limit=3", headers=openai_headers()) as r:
        assert r.status == 200
        assert (await r.json())["object"] == "list"
    assert upstream.fake.seen[-1].query == "limit=3"
    async with http.delete(gateway.url + "/v1/files/file-1", headers=openai_headers()) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].method == "DELETE"
    assert upstream.fake.seen[-1].path == "/v1/files/file-1"


async def test_legacy_proxy_prefix(gateway, upstream, http):
    async with http.post(
        gateway.url + "/v1/proxy/chat/completions",
        json=CHAT,
        headers={"x-portkey-mode": "proxy openai", "Authorization": "Bearer sk-1"},
    ) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].path == "/v1/chat/completions"


async def test_header_forwarding_rules(gateway, upstream, http):
    upstream.fake.script.append("echo")
    headers = openai_headers(
        **{
            "x-portkey-api-key": "pk-gateway-key",
            "x-portkey-metadata": '{"_user": "u1"}',
            "Connection": "keep-alive",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "X-Custom-Thing": "kept",
            "OpenAI-Organization": "org-1",
        }
    )
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        echoed = (await r.json())["headers"]
    names = {k.lower() for k in echoed}
    assert "x-custom-thing" in names and "openai-organization" in names
    assert not {n for n in names if n.startswith("x-portkey")}
    assert "keep-alive" not in names and "te" not in names
    assert "pk-gateway-key" not in json.dumps(echoed)


async def test_forward_headers_lets_client_auth_through(gateway, upstream, http):
    upstream.fake.script.append("echo")
    cfg = {"provider": "openai", "api_key": "sk-config"}
    headers = {
        "x-portkey-config": json.dumps(cfg),
        "Authorization": "Bearer sk-client-own",
        "x-portkey-forward-headers": "authorization",
    }
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        echoed = (await r.json())["headers"]
    assert echoed["Authorization"] == "Bearer sk-client-own"


async def test_anthropic_passthrough_uses_x_api_key(gateway, upstream, http):
    headers = {"x-portkey-provider": "anthropic", "x-api-key": "sk-ant-1"}
    body = {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with http.post(gateway.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200
        assert (await r.json())["type"] == "message"
    seen = upstream.fake.seen[-1]
    assert seen.headers["x-api-key"] == "sk-ant-1"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in seen.headers


async def test_azure_openai_url_from_headers(make_gateway, upstream, http):
    gw = await make_gateway()
    headers = {
        "x-portkey-provider": "azure-openai",
        "Authorization": "Bearer az-key",
        "x-portkey-custom-host": upstream.url + "/openai",
        "x-portkey-azure-deployment-id": "dep1",
        "x-portkey-azure-api-version": "2024-06-01",
    }
    async with http.post(gw.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200
    seen = upstream.fake.seen[-1]
    assert seen.path == "/openai/deployments/dep1/chat/completions"
    assert seen.query == "api-version=2024-06-01"
    assert seen.headers["api-key"] == "az-key"


async def test_upstream_error_passes_through_unchanged(gateway, upstream, http):
    upstream.fake.script.append("400")
    async with http.post(
        gateway.url + "/v1/chat/completions", json=CHAT, headers=openai_headers()
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"]["message"] == "fake upstream error 400"
        assert "x-portkey-gateway-exception" not in r.headers


async def test_path_and_query_reach_the_provider_as_the_client_encoded_them(
    make_gateway, upstream, http
):
    """Decoded and encoded again, ``%20`` would arrive as ``+`` and ``%2F`` as a slash: the
    gateway forwards the client's own bytes."""
    gw = await make_gateway()
    tail = "/files/a%2Fb%20c?x=%20y&z=%2B1&q=a%26b&p=%2Fa&s=%E2%98%83&plus=b+c"
    url = URL(gw.url + "/v1" + tail, encoded=True)
    async with http.get(url, headers=openai_headers()) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].raw_path == "/v1" + tail


async def test_compressed_request_bodies(gateway, upstream, http):
    """A gzip body is decoded by the gateway's server, so the provider gets the decoded bytes
    without the header; one that does not decode is a 400 saying so; an encoding the server
    does not decode goes on as it came, header and all."""
    body = json.dumps(CHAT).encode()
    url = gateway.url + "/v1/chat/completions"
    headers = {**openai_headers(), "Content-Type": "application/json"}
    async with http.post(
        url, data=gzip.compress(body), headers={**headers, "Content-Encoding": "gzip"}
    ) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].body == body
    assert "Content-Encoding" not in upstream.fake.seen[-1].headers
    async with http.post(
        url, data=b"not gzip", headers={**headers, "Content-Encoding": "gzip"}
    ) as r:
        assert r.status == 400
        assert "could not be read" in (await r.json())["message"]
    async with http.post(url, data=body, headers={**headers, "Content-Encoding": "x-custom"}) as r:
        assert r.status == 200
    assert upstream.fake.seen[-1].headers["Content-Encoding"] == "x-custom"
