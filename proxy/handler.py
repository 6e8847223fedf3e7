"""The gateway's request handler: parse, run the chain, relay, record.

Every request ends in exactly one response (the upstream's, or a JSON error) and is handed to
every recorder exactly once, whatever happened: bad input, an unreachable upstream, a cut stream,
a client that left, or a bug (answered 500, logged, the worker keeps running).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from proxy.chain import Call, Outcome, Recorder, Reply
from proxy.errors import GatewayError
from proxy.headers import fill_call, new_call
from proxy.realtime import check_handshake, is_upgrade, relay_session
from proxy.relay import gateway_headers, relay
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
            raise _BodyUnread(
                413,
                "request body is larger than the gateway's limit of "
                f"{services.settings.max_body_bytes} bytes",
            ) from None
        except RequestPayloadError as e:  # e.g. a Content-Encoding the body does not match
            raise _BodyUnread(400, f"request body could not be read: {_reason(e)}") from None
        await fill_call(call, services)
        assert services.chain is not None
        reply = await services.chain(call)
        response, outcome = await relay(request, call, reply)
    except GatewayError as e:
        response, outcome = refused(call, e)
        if isinstance(e, _BodyUnread):
            # The rest of the body is still on the connection: say it closes, so the
            # client does not send its next request down a connection about to go.
            response.force_close()
    except Exception:
        response, outcome = crashed(request, call)
    if (waiting := record(services, call, reply, outcome)) is not None:
        await waiting
    return response


class _BodyUnread(GatewayError):
    """The request body could not be read to its end."""


async def handle_realtime(request: web.Request) -> web.StreamResponse:
    """``GET /v1/realtime``: a WebSocket session when the client asks to upgrade (see
    `proxy.realtime`), else an ordinary proxied GET."""
    if not is_upgrade(request):
        return await handle(request)
    started = time.perf_counter()
    services = request.app[SERVICES]
    call = new_call(request, started)
    reply = None
    try:
        check_handshake(request)
        await fill_call(call, services)
        model = request.query.get("model")
        call._json = {"model": model} if model else {}  # the log's model, as for a JSON body
        assert services.realtime is not None
        reply = await services.realtime(call)
        if reply.socket is None:  # no upstream accepted: an HTTP answer with its status
            response, outcome = await relay(request, call, reply)
        else:
            response, outcome = await relay_session(
                request, call, reply, gateway_headers(call, reply), services.settings
            )
    except GatewayError as e:
        response, outcome = refused(call, e)
    except Exception:
        response, outcome = crashed(request, call)
    finally:
        if reply is not None and reply.socket is not None and not reply.socket.closed:
            await reply.socket.close(code=1011)
    if (waiting := record(services, call, reply, outcome)) is not None:
        await waiting
    return response


def refused(call: Call, err: GatewayError) -> tuple[web.Response, Outcome]:
    """The JSON answer to a request the gateway turns down itself, and its outcome."""
    response = error_response(err, call.trace_id)
    return response, _failed(call, err.status, err.message, response)


def crashed(request: web.Request, call: Call) -> tuple[web.Response, Outcome]:
    """A bug: logged with its traceback, answered 500, and the worker keeps running."""
    log.exception(
        "unhandled error on %s %s (trace %s)", request.method, request.path, call.trace_id
    )
    response = error_response(GatewayError(500, "Something went wrong"), call.trace_id)
    return response, _failed(call, 500, "internal error", response)


def record(
    services: Services, call: Call, reply: Reply | None, outcome: Outcome
) -> Awaitable[None] | None:
    """Hand the finished request to every recorder. None when all took it at once (the usual
    case: no coroutine is made); else an awaitable that waits where one pushes back (a full
    log queue) and hands it to the rest."""
    recorders = services.recorders
    for i, recorder in enumerate(recorders):
        try:
            waiting = recorder.record(call, reply, outcome)
        except Exception:
            log.exception("recorder %r failed", recorder)
            continue
        if waiting is not None:
            return _record_rest(waiting, recorders[i + 1 :], call, reply, outcome)
    return None


async def _record_rest(
    waiting: Awaitable[None],
    rest: list[Recorder],
    call: Call,
    reply: Reply | None,
    outcome: Outcome,
) -> None:
    try:
        await waiting
    except Exception:
        log.exception("recorder failed while pushing back")
    for recorder in rest:
        try:
            more = recorder.record(call, reply, outcome)
            if more is not None:
                await more
        except Exception:
            log.exception("recorder %r failed", recorder)


def _reason(e: BaseException) -> str:
    """The first line of what aiohttp said, e.g. ``Can not decode content-encoding: gzip``."""
    cause = e.__cause__ or e
    text = getattr(cause, "message", None) or str(cause) or type(cause).__name__
    return str(text).strip().splitlines()[0]


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
