"""A lean HTTP/1.1 load client (asyncio streams on uvloop), run in its own process.

    python -m bench.loadclient SPEC.json     # prints one JSON result on stdout

SPEC: ``{"port", "path", "headers", "body", "stream", "connections", "seconds"}`` (host is always
127.0.0.1). Each connection sends the same pre-built request over keep-alive, back to back, until
the time is up. Per request it records the total latency (request written → last body byte) and
the time to first byte (TTFB: request written → first body bytes read; for a stream, the first
SSE chunk). It is an asyncio Protocol that parses only what HTTP/1.1 framing needs (status line,
Content-Length or chunked), so the client costs little next to what it measures.

A request counts as an error when the status is not 200, the connection breaks, or a streamed
answer does not end with ``data: [DONE]``; errors are not in the figures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bench.stats import CURVE, percentile

HOST = "127.0.0.1"
_DONE = b"data: [DONE]"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    ttfbs: list[float] = field(default_factory=list)
    errors: int = 0
    last_error: str = ""


def build_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Answer(NamedTuple):
    status: int
    ttfb: float
    """Seconds from the request's write to the first body bytes read."""
    total: float
    tail: bytes
    """The body's last bytes (for the ``[DONE]`` check)."""
    keep_alive: bool


class ResponseReader(asyncio.Protocol):
    """One keep-alive connection: `ask` writes the request and resolves with an `Answer`.

    Parsing is incremental in ``data_received`` (status line, Content-Length or chunked framing,
    nothing else), so a streamed answer costs one callback per TCP read, not per chunk.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def ask(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.buf.clear()
        self.status = 0
        self.head_done = False
        self.chunked = False
        self.keep = True
        self.left = 0  # bytes left in the body (Content-Length) or in the current chunk
        self.ttfb = 0.0
        self.tail = b""
        self.t0 = time.perf_counter()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            return
        self.buf += data
        try:
            done = self._parse()
        except ValueError as e:
            self.waiter.set_exception(e)
            return
        if done:
            now = time.perf_counter()
            answer = Answer(
                self.status, self.ttfb or now - self.t0, now - self.t0, self.tail, self.keep
            )
            self.waiter.set_result(answer)

    def _parse(self) -> bool:
        """Consume what ``buf`` holds; True once the whole answer is in."""
        buf = self.buf
        if not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = bytes(buf[: end + 2]).lower()
            del buf[: end + 4]
            self.head_done = True
            self.status = int(head[9:12])
            self.keep = b"\r\nconnection: close\r\n" not in head
            self.chunked = b"\r\ntransfer-encoding: chunked\r\n" in head
            if not self.chunked:
                at = head.find(b"\r\ncontent-length:")
                self.left = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
                if self.left == 0:
                    return True
        if buf and not self.ttfb:
            self.ttfb = time.perf_counter() - self.t0
        return self._chunks() if self.chunked else self._plain()

    def _plain(self) -> bool:
        self.left -= len(self.buf)
        self.tail = bytes(self.buf[-64:])
        self.buf.clear()
        return self.left <= 0

    def _chunks(self) -> bool:
        buf = self.buf
        pos = 0
        done = False
        while True:
            if self.left:  # inside a chunk's data (+ its CRLF)
                take = min(self.left, len(buf) - pos)
                self.tail = (self.tail + bytes(buf[pos : pos + take]))[-66:]
                pos += take
                self.left -= take
                if self.left:
                    break
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
            if size == 0:  # last chunk; no trailers expected, only the final CRLF
                if len(buf) < eol + 4:
                    break
                pos = eol + 4
                done = True
                break
            pos = eol + 2
            self.left = size + 2
        del buf[:pos]
        return done


async def _connection(
    port: int, request: bytes, stream: bool, deadline: float, tally: Tally
) -> None:
    loop = asyncio.get_running_loop()
    conn: ResponseReader | None = None
    while time.perf_counter() < deadline:
        try:
            if conn is None or conn.closed:
                _, conn = await loop.create_connection(ResponseReader, HOST, port)
            answer = await conn.ask(request)
            if answer.status != 200 or (stream and _DONE not in answer.tail):
                tally.errors += 1
                tally.last_error = f"status {answer.status}, tail {answer.tail[-40:]!r}"
            else:
                tally.latencies.append(answer.total)
                tally.ttfbs.append(answer.ttfb)
            if not answer.keep_alive:
                conn.transport.close()  # type: ignore[union-attr]
                conn = None
        except (OSError, ValueError) as e:
            tally.errors += 1
            tally.last_error = repr(e)
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            conn = None
            await asyncio.sleep(0.01)
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def run_load(
    port: int,
    path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    stream: bool,
    connections: int,
    seconds: float,
) -> dict[str, Any]:
    """Drive ``connections`` keep-alive connections for ``seconds``; returns the figures."""
    request = build_request(port, path, headers, body)
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds
    tasks = [_connection(port, request, stream, deadline, tally) for _ in range(connections)]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 15)
    elapsed = time.perf_counter() - start
    lat = sorted(tally.latencies)
    ttfb = sorted(tally.ttfbs)
    return {
        "tool": "loadclient",
        "connections": connections,
        "seconds": round(elapsed, 3),
        "requests": len(lat) + tally.errors,
        "errors": tally.errors,
        "last_error": tally.last_error,
        "rps": len(lat) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "ttfb_p50_ms": percentile(ttfb, 50) * 1000,
        "ttfb_p99_ms": percentile(ttfb, 99) * 1000,
        "curve_ms": [(p, percentile(lat, p) * 1000) for p in CURVE],
        "ttfb_curve_ms": [(p, percentile(ttfb, p) * 1000) for p in CURVE],
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m bench.loadclient SPEC.json")
    with open(args[0]) as f:
        spec = json.load(f)
    import uvloop

    result = uvloop.run(
        run_load(
            int(spec["port"]),
            spec["path"],
            spec["headers"],
            spec["body"].encode(),
            stream=bool(spec["stream"]),
            connections=int(spec["connections"]),
            seconds=float(spec["seconds"]),
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
