"""The least any aiohttp WebSocket relay does, for `bench.realtime` to compare the gateway with.

    python -m bench.ws_floor --port 9820 --upstream ws://127.0.0.1:9801

Accept the client, open the same path upstream, pass frames both ways until either side
closes. No routing, headers, logging or error handling: the floor, not a gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress

import aiohttp
import uvloop
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _pump(src: aiohttp.ClientWebSocketResponse | web.WebSocketResponse, dst: object) -> None:
    async for msg in src:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)  # type: ignore[attr-defined]
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)  # type: ignore[attr-defined]


async def relay(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    async with app[SESSION].ws_connect(app[UPSTREAM] + request.path_qs) as up:
        client = web.WebSocketResponse()
        await client.prepare(request)
        pumps = [asyncio.ensure_future(_pump(client, up)), asyncio.ensure_future(_pump(up, client))]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for p in pumps:
            p.cancel()
        await client.close()
    return client


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.ws_floor", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="ws://host:port of the upstream")
    args = ap.parse_args(argv)
    if not ipaddress.ip_address(args.host).is_loopback:
        raise SystemExit(f"the floor listens on loopback only, not {args.host}")

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app.cleanup_ctx.append(session)
    app.router.add_get("/health", lambda _: web.Response(text="ok"))
    app.router.add_get("/{tail:.*}", relay)
    uvloop.install()
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
