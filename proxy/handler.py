"""The gateway's request handler: parse, run the chain, relay, record.

Every request ends in exactly one response (the upstream's, or a JSON error) and is handed to
every recorder exactly once, whatever happened: bad input, an unreachable upstream, a cut stream,
a client that left, or a bug (answered 500, logged, the worker keeps running).
"""

from __future__ import annotations

import logging
import time

import msgspec
from aiohttp import web

from proxy.chain import Call, Outcome
from proxy.errors import GatewayError
from proxy.headers import fill_call, new_call
from proxy.relay import relay
from proxy.services import Services

log = logging.getLogger("lockgate")
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)


def error_response(err: GatewayError, trace_id: str) -> web.Response:
    return web.Response(
        status=err.status,
        body=err.body(),
        content_type="application/json",
        headers={"x-portkey-trace-id": trace_id, "x-portkey-gateway-exception": "true"},
    )


async def handle(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    services = request.app[SERVICES]
    call = new_call(request, started)
    reply = None
    try:
        try:
            call.body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise GatewayError(
                413,
                "request body is larger than the gateway's limit of "
                f"{services.settings.max_body_bytes} bytes",
            ) from None
        await fill_call(call, services)
        assert services.chain is not None
        reply = await services.chain(call)
        response, outcome = await relay(request, call, reply)
    except GatewayError as e:
        response = error_response(e, call.trace_id)
        outcome = _failed(call, e.status, e.message, response)
    except Exception:
        log.exception(
            "unhandled error on %s %s (trace %s)", request.method, request.path, call.trace_id
        )
        e = GatewayError(500, "Something went wrong")
        response = error_response(e, call.trace_id)
        outcome = _failed(call, 500, "internal error", response)
    for recorder in services.recorders:
        try:
            waiting = recorder.record(call, reply, outcome)
            if waiting is not None:
                await waiting
        except Exception:
            log.exception("recorder %r failed", recorder)
    return response


def _failed(call: Call, status: int, message: str, response: web.Response) -> Outcome:
    return Outcome(
        status=status,
        latency_ms=(time.perf_counter() - call.started) * 1000,
        streamed=False,
        complete=False,
        error=message,
        body=response.body if isinstance(response.body, bytes) else None,
    )


_NOT_FOUND = msgspec.json.encode({"message": "Not Found", "ok": False})


async def not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, body=_NOT_FOUND, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
