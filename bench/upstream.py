"""A fast fake OpenAI upstream: aiohttp's low-level server on uvloop, in its own process.

    python -m bench.upstream --port 9801 [--chunks 20] [--chunk-delay-ms 0]

Routes (no router, one handler, so the upstream costs as little as possible):
- ``POST …/chat/completions``: the fixed chat.completion (``payloads.COMPLETION``); when the body
  holds ``"stream":true`` (or ``"stream": true``) an SSE stream of ``--chunks`` content chunks,
  each written separately, then ``data: [DONE]``. The body is never parsed: a byte search is the
  whole peek.
- any path under ``/fail`` or a body naming the model ``bench-503``: 503 at once, for fallback
  scenarios whose first target must fail.
- ``GET …/realtime`` with ``Upgrade: websocket``: a socket that echoes every frame
  (`bench.realtime`).
- ``GET /health``: 200, for readiness checks. Anything else: 404.

It listens on 127.0.0.1 only (``--host`` may not name another interface).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress

from aiohttp import web

from bench import payloads

_STREAM_MARKS = (b'"stream":true', b'"stream": true')
_FAIL_MARK = b'"' + payloads.FAIL_MODEL.encode() + b'"'
_JSON = {"Content-Type": "application/json"}
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def wants_stream(body: bytes) -> bool:
    """The cheap peek: does the request body ask for a stream?"""
    return _STREAM_MARKS[0] in body or _STREAM_MARKS[1] in body


class FakeUpstream:
    """The request handler; holds the pre-built answers."""

    def __init__(self, *, chunks: int = 20, chunk_delay_ms: float = 0.0) -> None:
        self.events = payloads.stream_events(chunks)
        self.delay = chunk_delay_ms / 1000.0

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and path == "/health":
            return web.Response(text="ok")
        if path.endswith("/realtime") and request.headers.get("Upgrade", "").lower() == "websocket":
            return await _echo(request)
        if request.method != "POST" or not path.endswith("/chat/completions"):
            return web.Response(
                status=404, body=b'{"error":{"message":"not found"}}', headers=_JSON
            )
        body = await request.read()
        if path.startswith(payloads.FAIL_PREFIX + "/") or _FAIL_MARK in body:
            return web.Response(status=503, body=payloads.FAILURE, headers=_JSON)
        if not wants_stream(body):
            return web.Response(body=payloads.COMPLETION, headers=_JSON)
        return await self._stream(request)

    async def _stream(self, request: web.BaseRequest) -> web.StreamResponse:
        resp = web.StreamResponse(headers=_SSE)
        await resp.prepare(request)
        for event in self.events:
            if self.delay:
                await asyncio.sleep(self.delay)
            await resp.write(event)
        await resp.write_eof()
        return resp


async def _echo(request: web.BaseRequest) -> web.WebSocketResponse:
    """A realtime socket that sends every frame back as it came (``bench.realtime``)."""
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == web.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def start(
    host: str = "127.0.0.1", port: int = 0, **options: float
) -> tuple[web.BaseRunner, int]:
    """Start the fake upstream in the running loop; returns its runner and the bound port."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the fake upstream listens on loopback only, not {host}")
    server = web.Server(FakeUpstream(**options), access_log=None)  # type: ignore[arg-type]
    runner = web.ServerRunner(server, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    return runner, runner.addresses[0][1]


async def _serve(args: argparse.Namespace) -> None:
    runner, _ = await start(
        args.host, args.port, chunks=args.chunks, chunk_delay_ms=args.chunk_delay_ms
    )
    try:
        await asyncio.Event().wait()  # until SIGTERM/SIGINT
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.upstream", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--chunks", type=int, default=20, help="content chunks per streamed answer")
    ap.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause before each event")
    args = ap.parse_args(argv)
    import uvloop

    try:
        uvloop.run(_serve(args))
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
