"""Prometheus text from the metrics recorder, over a real scrape."""

from __future__ import annotations

import re

from aiohttp import web

from proxy.metrics import MetricsRecorder, add_metrics_route

from .conftest import Attempt, make_call, make_outcome, make_reply


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line[len(name) : line.rindex("}")]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in:\n{text}")


async def test_counts_and_scrape(store, aiohttp_client):
    m = MetricsRecorder()
    m.watch_log_store(store)
    for latency in (3.0, 40.0, 700.0):
        m.record(make_call(attempts=3), make_reply(retries=2), make_outcome(latency_ms=latency))
    call = make_call(provider="anthropic", cache="semantic")
    call.attempts[0] = Attempt(
        target_path="config",
        provider="anthropic",
        url="u",
        status=0,
        latency_ms=1,
        error="connection refused",
    )
    m.record(
        call,
        make_reply(status=502, provider="anthropic", cache_status="SEMANTIC MISS"),
        make_outcome(status=502, body=b"{}"),
    )
    m.record(make_call(cache="simple"), make_reply(cache_status="HIT"), make_outcome())
    m.record(
        make_call(), make_reply(), make_outcome(streamed=True, complete=False, tail=b"data: {}\n\n")
    )
    m.record(make_call(provider='we"ird\\'), None, make_outcome(status=400, body=b"{}"))

    app = web.Application()
    add_metrics_route(app, m)
    client = await aiohttp_client(app)
    r = await client.get("/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await r.text()
    assert sample(text, "lockgate_requests_total", provider="openai", status="200") == 5
    assert sample(text, "lockgate_requests_total", provider="anthropic", status="502") == 1
    assert sample(text, "lockgate_requests_total", provider='we\\"ird\\\\', status="400") == 1
    h = "lockgate_request_duration_seconds"
    assert (
        sample(text, h + "_bucket", provider="openai", le="0.005") == 1
    )  # latencies: 3, 40, 700, 42, 42 ms
    assert sample(text, h + "_bucket", provider="openai", le="0.05") == 4
    assert sample(text, h + "_bucket", provider="openai", le="+Inf") == 5
    assert sample(text, h + "_count", provider="openai") == 5
    assert sample(text, "lockgate_upstream_errors_total", provider="openai", code="500") == 6
    assert sample(text, "lockgate_upstream_errors_total", provider="anthropic", code="network") == 1
    assert sample(text, "lockgate_retries_total", provider="openai") == 6
    assert sample(text, "lockgate_cache_hits_total", mode="simple") == 1
    assert (
        sample(text, "lockgate_cache_requests_total", mode="semantic", status="SEMANTIC MISS") == 1
    )
    assert sample(text, "lockgate_streams_incomplete_total", provider="openai") == 1
    assert sample(text, "lockgate_log_queue_depth") == 0
    assert sample(text, "lockgate_log_rows_unwritten") == 0
    assert "# TYPE lockgate_request_duration_seconds histogram" in text
