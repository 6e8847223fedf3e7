"""Storing a streamed answer: a tee the relay feeds, which stores the answer only if the stream
completed (an SSE stream is assembled into one completion; any other 2xx body is kept whole)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from cache.sse import StreamAssembler

if TYPE_CHECKING:
    from cache.layer import CacheService, _Plan
    from proxy.chain import Reply

_encode = msgspec.json.Encoder().encode


class StoreTee:
    """Sees a 2xx stream as it is relayed; stores the answer once the relay says it completed."""

    def __init__(self, service: CacheService, plan: _Plan, reply: Reply, *, sse: bool) -> None:
        self._service = service
        self._plan = plan
        self._reply = reply
        self._sse = StreamAssembler(service.settings.max_entry_bytes) if sse else None
        self._raw: list[bytes] | None = None if sse else []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        if self._sse is not None:
            self._sse.feed(chunk)
        elif self._raw is not None:
            self._size += len(chunk)
            if self._size > self._service.settings.max_entry_bytes:
                self._raw = None
            else:
                self._raw.append(chunk)

    def close(self, complete: bool) -> None:
        svc = self._service
        if not complete:
            svc.counters.not_stored += 1
            return
        if self._sse is not None:
            answer = self._sse.result()
            if answer is None:
                svc.counters.not_stored += 1
                return
            svc._store(
                self._plan,
                200,
                [("content-type", "application/json")],
                _encode(answer),
                self._reply.provider,
            )
        elif self._raw is not None:
            svc._store(
                self._plan,
                self._reply.status,
                self._reply.headers,
                b"".join(self._raw),
                self._reply.provider,
            )
