"""Every provider in the registry gets the same cases: answer, stream, upstream error."""

from __future__ import annotations

import pytest

from proxy.providers import REGISTRY

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
SLUGS = sorted(s for s in REGISTRY if s != "anthropic")
AUTH_HEADER = {"bearer": "Authorization", "api-key": "api-key", "x-api-key": "x-api-key"}


@pytest.fixture
async def gw(make_gateway, upstream):
    return await make_gateway(providers={s: {"base_url": f"{upstream.url}/v1"} for s in REGISTRY})


def headers_for(slug: str, upstream_url: str) -> dict[str, str]:
    h = {"x-portkey-provider": slug, "Authorization": "Bearer sk-conf"}
    if REGISTRY[slug].base_url is None:  # local-only providers need a custom host
        suffix = REGISTRY[slug].custom_host_suffix
        h["x-portkey-custom-host"] = upstream_url + ("" if suffix else "/v1")
    return h


@pytest.mark.parametrize("slug", SLUGS)
async def test_provider_answer_stream_and_error(slug, gw, upstream, http):
    h = headers_for(slug, upstream.url)
    url = gw.url + "/v1/chat/completions"
    async with http.post(url, json=CHAT, headers=h) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["object"] == "chat.completion"
        assert r.headers["x-portkey-provider"] == slug
    seen = upstream.fake.seen[-1]
    assert seen.path.endswith("/chat/completions")
    spec = REGISTRY[slug]
    if spec.auth == "none":
        assert "Authorization" not in seen.headers
    else:
        sent = seen.headers[AUTH_HEADER[spec.auth]]
        assert sent in ("Bearer sk-conf", "sk-conf")
    async with http.post(url, json=CHAT | {"stream": True}, headers=h) as r:
        body = await r.read()
        assert r.headers["Content-Type"].startswith("text/event-stream")
    assert body.endswith(b"data: [DONE]\n\n")
    upstream.fake.script.append("503")
    async with http.post(url, json=CHAT, headers=h) as r:
        assert r.status == 503
        assert (await r.json())["error"]["message"] == "fake upstream error 503"
