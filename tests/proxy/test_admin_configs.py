"""The /v1/configs API over real sockets, and saved configs used by requests."""

from __future__ import annotations

import json

from tests.conftest import openai_headers

SECRET = "sk-live-secret-7777abcd"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
FALLBACK = {
    "strategy": {"mode": "fallback"},
    "targets": [
        {"provider": "openai", "api_key": SECRET, "override_params": {"model": "first"}},
        {"provider": "groq", "api_key": "gsk-second-key-0000", "override_params": {"model": "2nd"}},
    ],
}


async def call(http, method, url, **kw):
    async with http.request(method, url, **kw) as r:
        return r.status, await r.read()


async def test_crud_versions_and_masking(gateway, http):
    base = gateway.url + "/v1/configs"
    status, body = await call(http, "POST", base, json={"config": FALLBACK, "name": "chat"})
    assert status == 201
    created = json.loads(body)
    cid = created["id"]
    assert cid.startswith("pc-chat-") and created["version"] == 1
    assert created["config"]["targets"][0]["api_key"] == "sk-…abcd"
    status, body = await call(http, "GET", f"{base}/{cid}")
    assert status == 200 and SECRET.encode() not in body
    status, body = await call(http, "GET", base)
    listed = json.loads(body)
    assert listed["total"] == 1 and listed["data"][0]["id"] == cid and SECRET.encode() not in body

    shown = json.loads((await call(http, "GET", f"{base}/{cid}"))[1])["config"]
    shown["targets"][1]["override_params"]["model"] = "third"
    status, body = await call(http, "PUT", f"{base}/{cid}", json={"config": shown})
    assert status == 200 and json.loads(body)["version"] == 2
    status, body = await call(http, "GET", f"{base}/{cid}/versions")
    assert [v["version"] for v in json.loads(body)["data"]] == [1, 2]
    status, body = await call(http, "GET", f"{base}/{cid}/versions/1")
    assert json.loads(body)["config"]["targets"][1]["override_params"]["model"] == "2nd"

    status, body = await call(http, "DELETE", f"{base}/{cid}")
    assert status == 200 and json.loads(body) == {"id": cid, "deleted": True}
    for path in (f"{base}/{cid}", f"{base}/{cid}/versions", f"{base}/{cid}/versions/1"):
        status, body = await call(http, "GET", path)
        assert status == 404 and json.loads(body)["status"] == "failure"


async def test_invalid_bodies_are_400_naming_the_path(gateway, http):
    base = gateway.url + "/v1/configs"
    bad = {
        "strategy": {"mode": "loadbalance"},
        "targets": [{"provider": "openai"}, {"weight": "x"}],
    }
    cases = [
        ({"config": bad}, "Invalid config: targets[1].weight: expected a number, got a string"),
        ({"config": "{nope"}, "Invalid config: not valid JSON"),
        ({"name": "x"}, 'config: required (send {"config": {...}})'),
        ({"config": {"provider": "openai"}, "id": "nope"}, None),
    ]
    for payload, message in cases:
        status, body = await call(http, "POST", base, json=payload)
        assert status == 400, payload
        got = json.loads(body)
        assert got["status"] == "failure" and (message is None or got["message"] == message)
    status, body = await call(http, "POST", base, data=b"{not json")
    assert status == 400
    status, _ = await call(http, "PUT", base + "/pc-none", json={"config": {"provider": "openai"}})
    assert status == 404


async def test_requests_use_the_saved_config_and_see_updates_at_once(gateway, upstream, http):
    base = gateway.url + "/v1/configs"
    created = json.loads(
        (await call(http, "POST", base, json={"config": FALLBACK, "id": "pc-team"}))[1]
    )
    headers = {"x-portkey-config": created["id"]}
    upstream.fake.script.append("503")
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200
        assert r.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
        assert r.headers["x-portkey-provider"] == "groq"
    seen = upstream.fake.seen
    assert [s.json()["model"] for s in seen] == ["first", "2nd"]
    assert seen[0].headers["Authorization"] == f"Bearer {SECRET}"

    await call(http, "PUT", f"{base}/pc-team", json={"config": {"provider": "anthropic"}})
    async with http.post(gateway.url + "/v1/messages", json=CHAT, headers=headers) as r:
        assert r.status == 200 and r.headers["x-portkey-provider"] == "anthropic"
    await call(http, "DELETE", f"{base}/pc-team")
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 400
        assert "no saved config with id 'pc-team'" in (await r.json())["message"]


async def test_saved_config_takes_header_shortcuts(gateway, upstream, http):
    created = json.loads(
        (
            await call(
                http, "POST", gateway.url + "/v1/configs", json={"config": {"provider": "openai"}}
            )
        )[1]
    )
    upstream.fake.script.extend(["503", "ok"])
    headers = openai_headers(**{"x-portkey-config": created["id"], "x-portkey-retry-count": "1"})
    async with http.post(gateway.url + "/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200 and r.headers["x-portkey-retry-attempt-count"] == "1"


async def test_routes_answer_503_when_the_store_is_off(make_gateway, http):
    gw = await make_gateway(features=[])
    status, body = await call(http, "GET", gw.url + "/v1/configs")
    assert status == 503 and "not enabled" in json.loads(body)["message"]
