"""A lean HTTP/1.1 load client (asyncio streams on uvloop), run in its own process.

    python -m bench.loadclient SPEC.json     # prints one JSON result on stdout

SPEC: ``{"port", "path", "headers", "body", "stream", "connections", "seconds"}`` (host is always
127.0.0.1). Each connection sends the same pre-built request over keep-alive, back to back, until
the time is up. Per request it records the total latency (request written → last body byte) and
the time to first byte (TTFB: request written → first body chunk read; for a stream, the first
SSE chunk). It reads only what HTTP/1.1 needs (status line, Content-Length or chunked framing),
so the client costs little next to what it measures.

A request counts as an error when the status is not 200, the connection breaks, or a streamed
answer does not end with ``data: [DONE]``; errors are not in the figures.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

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


async def _read_answer(reader: asyncio.StreamReader, t0: float) -> tuple[int, float, bytes, bool]:
    """Read one response; returns status, TTFB, the body's last bytes, keep-alive."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep = b"\r\nconnection: close" not in lower
    ttfb = 0.0
    tail = b""
    if b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected: the final CRLF
                break
            data = await reader.readexactly(size + 2)
            if not ttfb:
                ttfb = time.perf_counter() - t0
            tail = (tail + data[:-2])[-64:]
    else:
        at = lower.find(b"\r\ncontent-length:")
        left = int(lower[at + 17 : lower.index(b"\r\n", at + 2)]) if at >= 0 else 0
        while left > 0:
            data = await reader.read(left)
            if not data:
                raise ConnectionError("body cut short")
            if not ttfb:
                ttfb = time.perf_counter() - t0
            left -= len(data)
            tail = (tail + data)[-64:]
    return status, ttfb, tail, keep


async def _connection(
    port: int, request: bytes, stream: bool, deadline: float, tally: Tally
) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            assert reader is not None
            t0 = time.perf_counter()
            writer.write(request)
            status, ttfb, tail, keep = await _read_answer(reader, t0)
            total = time.perf_counter() - t0
            if status != 200 or (stream and _DONE not in tail):
                tally.errors += 1
                tally.last_error = f"status {status}, tail {tail[-40:]!r}"
            else:
                tally.latencies.append(total)
                tally.ttfbs.append(ttfb or total)
            if not keep:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            tally.errors += 1
            tally.last_error = repr(e)
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


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
