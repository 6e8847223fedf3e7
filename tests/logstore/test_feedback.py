"""POST/PUT/GET /v1/feedback: validation that names the field, and the real portkey-ai SDK."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.admin_logs import add_routes


@pytest.fixture
async def client(store, aiohttp_client):
    app = web.Application()
    add_routes(app, store)
    return await aiohttp_client(app)


async def post(client, payload=None, data=None, status=200):
    r = (
        await client.post("/v1/feedback", json=payload)
        if data is None
        else await client.post("/v1/feedback", data=data)
    )
    body = await r.json()
    assert r.status == status, body
    return body


async def test_create_one_and_many(client):
    one = await post(
        client, {"trace_id": "t1", "value": 5, "weight": 0.5, "metadata": {"_user": "u1"}}
    )
    assert one["status"] == "success" and len(one["feedback_ids"]) == 1
    many = await post(
        client, [{"trace_id": "t1", "value": -10}, {"trace_id": "t2", "value": 10, "weight": 0}]
    )
    assert len(many["feedback_ids"]) == 2
    r = await client.get("/v1/feedback?trace_id=t1")
    data = (await r.json())["data"]
    assert [(f["value"], f["weight"]) for f in data] == [(5, 0.5), (-10, 1.0)]
    assert data[0]["metadata"] == {"_user": "u1"}
    assert data[0]["id"] == one["feedback_ids"][0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"value": 1}, "trace_id:"),
        ({"trace_id": "", "value": 1}, "trace_id:"),
        ({"trace_id": 7, "value": 1}, "trace_id:"),
        ({"trace_id": "t"}, "value:"),
        ({"trace_id": "t", "value": 11}, "value:"),
        ({"trace_id": "t", "value": -11}, "value:"),
        ({"trace_id": "t", "value": 1.5}, "value:"),
        ({"trace_id": "t", "value": "1"}, "value:"),
        ({"trace_id": "t", "value": True}, "value:"),
        ({"trace_id": "t", "value": 1, "weight": 1.5}, "weight:"),
        ({"trace_id": "t", "value": 1, "weight": -0.1}, "weight:"),
        ({"trace_id": "t", "value": 1, "weight": "heavy"}, "weight:"),
        ({"trace_id": "t", "value": 1, "metadata": [1]}, "metadata:"),
        ([{"trace_id": "t", "value": 1}, {"trace_id": "t", "value": 99}], "[1].value:"),
        ([{"trace_id": "t", "value": 1}, {"value": 1}], "[1].trace_id:"),
        ([], "body:"),
        ("just a string", "body:"),
    ],
)
async def test_bad_feedback_names_the_field(client, payload, message):
    body = await post(client, payload, status=400)
    assert body["status"] == "failure"
    assert body["message"].startswith(message), body["message"]


async def test_not_json_is_400(client):
    body = await post(client, data=b"{nope", status=400)
    assert body["message"].startswith("body:")


async def test_update_by_put_and_post(client):
    fid = (await post(client, {"trace_id": "t9", "value": 1}))["feedback_ids"][0]
    r = await client.put(f"/v1/feedback/{fid}", json={"value": -3, "metadata": {"why": "x"}})
    assert r.status == 200 and (await r.json())["feedback_ids"] == [fid]
    r = await client.post(f"/v1/feedback/{fid}", json={"weight": 0.25})
    assert r.status == 200
    got = (await (await client.get("/v1/feedback?trace_id=t9")).json())["data"][0]
    assert (got["value"], got["weight"], got["metadata"]) == (-3, 0.25, {"why": "x"})
    assert got["updated_at"] >= got["created_at"]
    r = await client.put(f"/v1/feedback/{fid}", json={"value": 20})
    assert r.status == 400 and (await r.json())["message"].startswith("value:")
    r = await client.put(f"/v1/feedback/{fid}", json={})
    assert r.status == 400
    r = await client.put("/v1/feedback/missing", json={"value": 1})
    assert r.status == 404


async def test_list_needs_a_trace_id(client):
    r = await client.get("/v1/feedback")
    assert r.status == 400 and (await r.json())["message"].startswith("trace_id:")


async def test_portkey_sdk_feedback(store):
    """The real portkey-ai client, in a thread, against a real socket on 127.0.0.1."""
    from portkey_ai import Portkey

    app = web.Application()
    add_routes(app, store)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("/v1"))

        def use_sdk():
            pk = Portkey(base_url=base, api_key="x")
            created = pk.feedback.create(
                trace_id="trace-sdk", value=1, weight=0.5, metadata={"_user": "u7"}
            )
            bulk = pk.feedback.bulk_create(
                feedbacks=[
                    {"trace_id": "trace-sdk", "value": -2},
                    {"trace_id": "trace-other", "value": 3},
                ]
            )
            updated = pk.feedback.update(feedback_id=created.feedback_ids[0], value=7)
            try:
                pk.feedback.create(trace_id="trace-sdk", value=50)
            except Exception as e:  # the SDK raises its BadRequestError on 400
                bad = e
            return created, bulk, updated, bad

        created, bulk, updated, bad = await asyncio.to_thread(use_sdk)
    finally:
        await server.close()
    assert created.status == "success" and len(created.feedback_ids) == 1
    assert len(bulk.feedback_ids) == 2
    assert updated.feedback_ids == created.feedback_ids
    assert getattr(bad, "status_code", None) == 400 and "value" in str(bad)
    rows = await store.feedback_for("trace-sdk")
    assert sorted((f.value, f.weight) for f in rows) == [(-2, 1.0), (7, 0.5)]
    assert next(f for f in rows if f.value == 7).metadata == {"_user": "u7"}
