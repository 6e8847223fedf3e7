"""Writing a `Reply` to the client: one piece, or chunk by chunk as the upstream sends it.

Streams are never buffered: each chunk read from the upstream is written at once, with aiohttp's
own flow control (``write`` waits for the socket to drain). When the upstream cuts a stream the
client's connection is closed without the terminating chunk, so the client sees an error rather
than a stream that looks complete. When the client leaves, the upstream response is closed, which
aborts the upstream request.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from proxy.chain import Outcome

if TYPE_CHECKING:
    from proxy.chain import Call, Reply

TAIL_BYTES = 8192
_SSE_EXTRA = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))


def gateway_headers(call: Call, reply: Reply) -> list[tuple[str, str]]:
    out = [
        ("x-portkey-trace-id", call.trace_id),
        ("x-portkey-cache-status", reply.cache_status),
        ("x-portkey-last-used-option-index", reply.target_path),
        ("x-portkey-retry-attempt-count", str(reply.retries)),
    ]
    if reply.provider:
        out.append(("x-portkey-provider", reply.provider))
    return out


async def relay(
    request: web.Request, call: Call, reply: Reply
) -> tuple[web.StreamResponse, Outcome]:
    headers = reply.headers + gateway_headers(call, reply)
    if reply.chunks is None:
        body = reply.body or b""
        response = web.Response(status=reply.status, body=body, headers=headers)
        return response, Outcome(
            status=reply.status,
            latency_ms=(time.perf_counter() - call.started) * 1000,
            streamed=False,
            complete=reply.error is None,
            error=reply.error,
            body=body,
            bytes_out=len(body),
        )
    return await _relay_stream(request, call, reply, headers)


async def _relay_stream(
    request: web.Request, call: Call, reply: Reply, headers: list[tuple[str, str]]
) -> tuple[web.StreamResponse, Outcome]:
    assert reply.chunks is not None
    if any(k.lower() == "content-type" and v.startswith("text/event-stream") for k, v in headers):
        present = {k.lower() for k, _ in headers}
        headers = headers + [(k, v) for k, v in _SSE_EXTRA if k.lower() not in present]
    response = web.StreamResponse(status=reply.status, headers=headers)
    if reply.upstream is not None and reply.upstream.content_length is not None:
        # A large download: the client keeps the length (and sees a cut as a short body).
        response.content_length = reply.upstream.content_length
    tail = b""
    sent = 0
    error: str | None = None
    client_gone = False
    complete = False
    try:
        await response.prepare(request)
        chunks = reply.chunks
        while True:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                complete = True
                break
            except Exception as e:  # upstream cut, reset or idle timeout
                error = f"upstream stream failed: {type(e).__name__}"
                break
            try:
                await response.write(chunk)
            except (ConnectionError, RuntimeError) as e:
                client_gone = True
                error = f"client disconnected: {type(e).__name__}"
                break
            sent += len(chunk)
            for tee in reply.tees:
                tee.feed(chunk)
            tail = (tail + chunk)[-TAIL_BYTES:] if len(chunk) < TAIL_BYTES else chunk[-TAIL_BYTES:]
        if complete:
            await response.write_eof()
        elif not client_gone and request.transport is not None:
            request.transport.close()  # no terminating chunk: the client sees the cut
    except (ConnectionError, RuntimeError) as e:
        client_gone = True
        error = error or f"client disconnected: {type(e).__name__}"
    finally:
        if reply.upstream is not None:
            if complete:
                reply.upstream.release()
            else:
                reply.upstream.close()
        for tee in reply.tees:
            tee.close(complete)
    return response, Outcome(
        status=reply.status,
        latency_ms=(time.perf_counter() - call.started) * 1000,
        streamed=True,
        complete=complete,
        error=error,
        stream_tail=tail,
        bytes_out=sent,
    )
