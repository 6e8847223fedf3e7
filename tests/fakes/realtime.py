"""The fake upstream's Realtime-API-shaped WebSocket (`realtime_session`), apart from its HTTP
answers in `tests.fakes.upstream`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.upstream import FakeUpstream


REALTIME_USAGE = {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}


async def realtime_session(request: web.Request, fake: FakeUpstream) -> web.StreamResponse:
    """A Realtime-API-shaped WebSocket: ``session.created`` first; ``response.create`` →
    a text delta and ``response.done`` with `REALTIME_USAGE`; ``close.me`` → closes with its
    ``code``; other text comes back as an ``echo`` event, binary frames as they were. The
    script's faults apply to the handshake (a status, ``reset``, ``slow:<ms>``)."""
    from tests.fakes.upstream import Seen, drop_connection

    fake.seen.append(Seen.of(request, b""))
    what = fake.behaviour({"model": request.query.get("model", "")})
    if what == "reset":
        return await drop_connection(request)
    if what.startswith("slow:"):
        await asyncio.sleep(int(what[5:]) / 1000)
    elif what.isdigit():
        return web.json_response({"error": {"message": f"fake {what}"}}, status=int(what))
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    ws = web.WebSocketResponse(protocols=[p for p in offered if p == "realtime"])
    await ws.prepare(request)
    fake.sockets.append(ws)
    await ws.send_json({"type": "session.created", "event_id": "ev_0", "session": {}})
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
            continue
        if msg.type != WSMsgType.TEXT:
            continue
        event = json.loads(msg.data)
        kind = event.get("type")
        if kind == "response.create":
            await ws.send_json(
                {"type": "response.output_text.delta", "event_id": "ev_1", "delta": "Hi"}
            )
            await ws.send_json(
                {
                    "type": "response.done",
                    "event_id": "ev_2",
                    "response": {"id": "resp_1", "status": "completed", "usage": REALTIME_USAGE},
                }
            )
        elif kind == "close.me":
            await ws.close(code=event.get("code", 1000))
            break
        else:
            await ws.send_json({"type": "echo", "event": event})
    fake.closes.append(ws.close_code)
    return ws
