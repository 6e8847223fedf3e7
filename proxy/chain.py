"""The request's way through the gateway: `Call` in, `Reply` out, through a list of layers.

A layer is ``async def layer(call: Call, nxt: Next) -> Reply``. It may answer by itself (a cache
hit), or call ``await nxt(call)`` and look at or wrap what comes back. The chain is built once at
start-up (``build_chain``); no per-request closures.

Contract every layer keeps:
- A `Reply` has a known status and headers; its body is either ``body`` (all bytes) or
  ``chunks`` (an async iterator, for streams). Once the relay has written the first byte the
  answer is committed: nothing may retry or switch it.
- A layer that wants to see a streamed body appends a `Tee` to ``reply.tees``; the relay calls
  ``feed`` for every chunk it wrote and ``close(complete)`` once, at the end.
- Layers never raise for an upstream failure: an upstream error is a `Reply` with that status.
  Gateway-side failures raise `proxy.errors.GatewayError`, which the handler turns into JSON.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from aiohttp import ClientResponse, ClientWebSocketResponse, web
    from multidict import CIMultiDictProxy

    from proxy.config import CacheConfig, Target


class Tee(Protocol):
    """Sees a streamed body as it is relayed (bounded work per chunk, no I/O)."""

    def feed(self, chunk: bytes) -> None: ...

    def close(self, complete: bool) -> None: ...


class Call(msgspec.Struct, kw_only=True):
    """One client request, parsed once, as every layer sees it."""

    request: web.Request
    method: str
    path: str
    """Path relative to the provider's base URL, e.g. ``/chat/completions``."""
    query: str
    """Raw query string without '?', forwarded as is."""
    endpoint: str
    """Kind of call: ``chat``, ``completions``, ``embeddings`` or ``proxy`` (anything else)."""
    body: bytes
    headers: CIMultiDictProxy[str]
    trace_id: str
    config: Target
    """The resolved plan: a leaf (one provider) or a strategy node with targets."""
    metadata: dict[str, str] = {}
    cache: CacheConfig | None = None
    cache_namespace: str | None = None
    force_refresh: bool = False
    started: float = 0.0
    """``time.perf_counter()`` when the request arrived."""
    arrived_ns: int = 0
    """``time.time_ns()`` when the request arrived: its log row's id and a trace id the gateway
    made up (`trace_made`) both carry this time, so the log finds that trace by time."""
    trace_made: bool = False
    attempts: list[Any] = []
    """One entry per upstream attempt, appended by the leaf caller (see proxy.upstream.Attempt)."""
    retry_after_waited_ms: float = 0.0
    """Retry-After waits so far, over every target; capped by ``retry_after_cap_ms``."""
    _json: Any = None

    def json(self) -> Any:
        """The request body as JSON, decoded once and only when a layer needs it."""
        if self._json is None:
            from proxy.jsonbody import decode_body

            self._json = decode_body(self.body)
        return self._json


class Reply(msgspec.Struct, kw_only=True):
    """An answer whose status and headers are known and whose body may still be streaming."""

    status: int
    headers: list[tuple[str, str]]
    """Headers to send to the client (hop-by-hop and length headers already removed)."""
    body: bytes | None = None
    chunks: AsyncIterator[bytes] | None = None
    upstream: ClientResponse | None = None
    """The open upstream response behind ``chunks``; the relay closes it."""
    socket: ClientWebSocketResponse | None = None
    """The upstream WebSocket of an accepted realtime session (`proxy.realtime`)."""
    provider: str = ""
    target_path: str = "config"
    """JSON path of the target that answered: ``config``, ``config.targets[1]`` …"""
    retries: int = 0
    cache_status: str = "DISABLED"
    ttfb_ms: float | None = None
    """Upstream time to first byte (headers), when an upstream was called."""
    error: str | None = None
    tees: list[Tee] = []

    @property
    def streaming(self) -> bool:
        return self.chunks is not None


Next = Callable[[Call], Awaitable[Reply]]
Layer = Callable[[Call, Next], Awaitable[Reply]]


def build_chain(layers: list[Layer], innermost: Next) -> Next:
    """Wrap ``innermost`` in ``layers`` (first = outermost), once, at start-up."""
    handler = innermost
    for layer in reversed(layers):
        handler = functools.partial(layer, nxt=handler)  # type: ignore[call-arg]
    return handler


class Outcome(msgspec.Struct, kw_only=True):
    """What the client finally got, handed to every recorder once the response is finished."""

    status: int
    latency_ms: float
    """Arrival of the request to the last byte written."""
    streamed: bool
    complete: bool
    """False when the stream was cut (upstream died or client left) or the request failed."""
    error: str | None = None
    body: bytes | None = None
    """The response body for non-streamed answers (the bytes sent to the client)."""
    stream_tail: bytes = b""
    """The last bytes of a streamed body (bounded), where a usage chunk sits."""
    bytes_out: int = 0


class Recorder(Protocol):
    """Told about every finished request (log row, metrics). Must not do blocking I/O. Returns
    None when done, or an awaitable to push back with (a full log queue): the handler awaits
    only then, so the usual request pays for no coroutine. Never writes to disk itself."""

    def record(
        self, call: Call, reply: Reply | None, outcome: Outcome
    ) -> Awaitable[None] | None: ...
