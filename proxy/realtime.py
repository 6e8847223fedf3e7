"""WebSocket sessions (OpenAI's Realtime API): ``GET /v1/realtime`` with ``Upgrade: websocket``.

The session is routed like any request — the same headers and configs pick the provider, key
and host, and the same strategies apply to the upstream handshake (a refused or unreachable
upstream is a status a fallback, a load balancer or a retry acts on). Once the upstream has
accepted, the client's upgrade is accepted too, with the subprotocol the upstream chose, and
frames are relayed both ways as they come, text as text and binary as binary, until either
side closes; its close code is passed on to the other side.

When no upstream accepts, the client gets an HTTP answer instead of a socket: the JSON error of
the status that ended the routing (aiohttp does not read the body of a refused handshake, so
the upstream's own error text is not available to pass on).

A session is one log row: status 101, its duration, and as its response body a summary the
gateway writes (`SessionSummary`): frames and bytes each way, the close code, and the
token usage summed over the session's ``response.done`` events.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec
from aiohttp import WSMsgType, web

from proxy.chain import Outcome, Reply
from proxy.deadlines import bound
from proxy.errors import GatewayError
from proxy.upstream import (
    as_sent,
    attempt_limit,
    note_attempt,
    synthetic_reply,
    timed_out,
    unreachable,
    upstream_headers,
    upstream_url,
)

if TYPE_CHECKING:
    from proxy.chain import Call
    from proxy.config import Target
    from proxy.services import Services
    from proxy.settings import Settings

SESSIONS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey(
    "realtime_sessions", weakref.WeakSet
)
"""The app's open client sockets, closed with 1001 (going away) when the server shuts down."""
_HANDSHAKE_HEADERS = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "sec-websocket-protocol",
    }
)
"""The client's handshake headers: aiohttp writes its own for the upstream handshake (the
subprotocols go through ``protocols``; extensions are never offered, frames are relayed as is)."""
CLEAN_CLOSES = frozenset({1000, 1001})


def is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def check_handshake(request: web.Request) -> None:
    """Refuse (400) an upgrade the gateway could not accept, before any upstream is called."""
    if not web.WebSocketResponse().can_prepare(request).ok:
        raise GatewayError(
            400,
            "not a valid WebSocket upgrade: it needs Connection: Upgrade, "
            "Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key",
        )


def _ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[8:]
    if http_url.startswith("http://"):
        return "ws://" + http_url[7:]
    return http_url


async def open_upstream(services: Services, call: Call, target: Target, path: str) -> Reply:
    """The leaf of the realtime router: one upstream handshake. 101 with ``socket`` set, or a
    synthetic error reply (the upstream's refusal status, 502 unreachable, 408/504 timeout)."""
    assert services.session is not None and target.provider is not None
    url = upstream_url(services, target, call)
    headers = {
        k: v
        for k, v in upstream_headers(services, target, call).items()
        if k.lower() not in _HANDSHAKE_HEADERS
    }
    offered = call.headers.get("Sec-WebSocket-Protocol", "")
    protocols = tuple(p.strip() for p in offered.split(",") if p.strip())
    limit = attempt_limit(services, target)
    t0 = time.perf_counter()
    started_at = time.time()
    try:
        with bound(limit):
            socket = await services.session.ws_connect(
                as_sent(_ws_url(url)),
                headers=headers,
                protocols=protocols,
                max_msg_size=0,
                compress=0,
                autoclose=False,
                autoping=True,
                heartbeat=services.settings.realtime_heartbeat_s or None,
            )
        reply = Reply(status=101, headers=[], socket=socket)
        reply.ttfb_ms = (time.perf_counter() - t0) * 1000
    except aiohttp.WSServerHandshakeError as e:
        status = e.status if e.status >= 400 else 502
        msg = f"upstream {target.provider} refused the WebSocket upgrade: {e.status}"
        reply = synthetic_reply(status, msg, "upstream_error", target.provider, path)
    except TimeoutError:
        reply = timed_out(services, target, path, "accept the WebSocket")
    except (aiohttp.ClientError, OSError) as e:
        reply = unreachable(target, path, e)
    note_attempt(call, reply, target.provider, path, url, t0, started_at)
    return reply


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class _Response(msgspec.Struct):
    usage: _Usage | None = None


class _Done(msgspec.Struct):
    """A server event; only ``response.done`` is decoded past its type."""

    type: str = ""
    response: _Response | None = None


_done = msgspec.json.Decoder(_Done)


class Meter(msgspec.Struct, kw_only=True):
    """What one direction of a session carried (``bytes``: text frames count their
    characters, which is their bytes for the ASCII JSON of the Realtime API)."""

    frames: int = 0
    bytes: int = 0


class SessionSummary(msgspec.Struct, kw_only=True):
    """The log row's response body for a realtime session."""

    object: str = "realtime.session"
    model: str | None = None
    client_frames: int = 0
    client_bytes: int = 0
    upstream_frames: int = 0
    upstream_bytes: int = 0
    responses: int = 0
    close_code: int | None = None
    closed_by: str | None = None
    usage: _Usage = msgspec.field(default_factory=_Usage)


class _Session:
    def __init__(self, model: str | None) -> None:
        self.summary = SessionSummary(model=model)
        self.error: str | None = None

    def count_usage(self, text: str) -> None:
        if '"response.done"' not in text:
            return
        try:
            event = _done.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if event.type != "response.done":
            return
        s = self.summary
        s.responses += 1
        if event.response is not None and event.response.usage is not None:
            u = event.response.usage
            s.usage.input_tokens += u.input_tokens
            s.usage.output_tokens += u.output_tokens
            s.usage.total_tokens += u.total_tokens or u.input_tokens + u.output_tokens


async def _pump(
    src: Any, dst: Any, meter: Meter, session: _Session, side: str, count_usage: bool
) -> int | None:
    """Relay ``src`` → ``dst`` until ``src`` closes; its close code (None: it failed)."""
    while True:
        msg = await src.receive()
        kind = msg.type
        if kind is WSMsgType.TEXT:
            meter.frames += 1
            meter.bytes += len(msg.data)
            if count_usage:
                session.count_usage(msg.data)
            await dst.send_str(msg.data)
            continue
        if kind is WSMsgType.BINARY:
            meter.frames += 1
            meter.bytes += len(msg.data)
            await dst.send_bytes(msg.data)
            continue
        if kind is WSMsgType.CLOSE:
            code: int | None = msg.data if isinstance(msg.data, int) else 1000
        elif kind in (WSMsgType.CLOSING, WSMsgType.CLOSED):
            code = src.close_code or 1000
        elif kind is WSMsgType.ERROR:
            session.error = session.error or f"{side} socket failed: {type(msg.data).__name__}"
            code = None
        else:
            continue  # PING/PONG are answered by each side's own autoping
        session.summary.closed_by = session.summary.closed_by or side
        return code


async def relay_session(
    request: web.Request,
    call: Call,
    reply: Reply,
    extra_headers: list[tuple[str, str]],
    settings: Settings,
) -> tuple[web.StreamResponse, Outcome]:
    """Accept the client's upgrade and relay frames until either side closes."""
    upstream = reply.socket
    assert upstream is not None
    model = request.query.get("model")
    session = _Session(model)
    client = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        max_msg_size=settings.max_body_bytes,  # a bigger frame closes the session with 1009
        autoclose=False,
        autoping=True,
        compress=False,
        heartbeat=settings.realtime_heartbeat_s or None,
    )
    client.headers.extend(extra_headers)
    sessions = request.app[SESSIONS]
    s = session.summary
    up_meter, down_meter = Meter(), Meter()
    try:
        await client.prepare(request)
    except (ConnectionError, RuntimeError, web.HTTPException) as e:
        await upstream.close(code=1001)
        return client, _outcome(call, session, client_error=f"client left: {type(e).__name__}")
    sessions.add(client)
    to_upstream = asyncio.ensure_future(_pump(client, upstream, up_meter, session, "client", False))
    to_client = asyncio.ensure_future(
        _pump(upstream, client, down_meter, session, "upstream", True)
    )
    try:
        done, _ = await asyncio.wait((to_upstream, to_client), return_when=asyncio.FIRST_COMPLETED)
        first = to_upstream if to_upstream in done else to_client
        other = to_client if first is to_upstream else to_upstream
        other.cancel()  # before closing: a close reads the peer's reply on the same socket
        await asyncio.gather(other, return_exceptions=True)
        try:
            code = first.result()
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as e:
            # Writing to the other side failed: that side is gone.
            gone = "upstream" if first is to_upstream else "client"
            s.closed_by = s.closed_by or gone
            session.error = session.error or f"{gone} socket failed: {type(e).__name__}"
            code = None
        s.close_code = code
        passed = _sendable(code)
        for sock in (client, upstream):
            if not sock.closed:
                try:
                    await sock.close(code=passed)
                except (ConnectionError, RuntimeError):
                    pass
    finally:
        for task in (to_upstream, to_client):
            task.cancel()
        await asyncio.gather(to_upstream, to_client, return_exceptions=True)
        if not upstream.closed:
            await upstream.close(code=1001)
        sessions.discard(client)
    s.client_frames, s.client_bytes = up_meter.frames, up_meter.bytes
    s.upstream_frames, s.upstream_bytes = down_meter.frames, down_meter.bytes
    if session.error is None and s.close_code not in CLEAN_CLOSES:
        session.error = f"closed by the {s.closed_by} with code {s.close_code}"
    return client, _outcome(call, session, bytes_out=down_meter.bytes)


def _sendable(code: int | None) -> int:
    """The close code to pass on: 1005 (none given) and 1006 (dropped) are never sent."""
    if code is None or code == 1006:
        return 1011
    if code == 1005:
        return 1000
    return code


def _outcome(
    call: Call, session: _Session, *, bytes_out: int = 0, client_error: str | None = None
) -> Outcome:
    error = client_error or session.error
    return Outcome(
        status=101,
        latency_ms=(time.perf_counter() - call.started) * 1000,
        streamed=True,
        complete=error is None,
        error=error,
        stream_tail=msgspec.json.encode(session.summary),
        bytes_out=bytes_out,
    )


async def close_sessions(app: web.Application) -> None:
    """On shutdown: every open session is told the gateway is going away (1001)."""
    for ws in list(app[SESSIONS]):
        await ws.close(code=1001, message=b"gateway shutting down")
