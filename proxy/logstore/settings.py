"""Settings of the log store, as the gateway's settings file carries them (``[logs]``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class Price(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """USD per one million tokens."""

    input: Annotated[float, Meta(ge=0)] = 0.0
    output: Annotated[float, Meta(ge=0)] = 0.0


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    file: str = "logs.sqlite3"
    """Relative to the data dir. A file of its own (not the cache/keys file): log writes never
    wait on the cache's write lock, and ``PRAGMA user_version`` belongs to this schema alone."""
    bodies: Literal["off", "truncated", "full"] = "truncated"
    """Keep request/response bodies: not at all, the first ``body_limit`` bytes, or whole.
    For streams the response body is the tail the relay kept (where the usage chunk sits)."""
    body_limit: Annotated[int, Meta(ge=0)] = 16384
    queue_size: Annotated[int, Meta(ge=1)] = 10000
    """Rows waiting for the writer; when full, recording awaits (push back), never drops."""
    batch_size: Annotated[int, Meta(ge=1)] = 64
    """Rows per write at most: one ``INSERT`` statement (see ``batches``)."""
    linger_ms: Annotated[float, Meta(ge=0)] = 5.0
    """How long the writer waits for a batch to fill before writing what it has. Each batch is
    a burst of CPU that requests arriving meanwhile queue behind on a busy core: at one
    connection the bench's p99 was ~1 ms with 5 ms, ~1.9 ms with 25 ms and ~3.2 ms with 100 ms.
    Under load the queue fills by itself, so batches stay large where it matters."""
    writer_nice: Annotated[int, Meta(ge=0, le=19)] = 19
    """Nice value of the log writer's thread (Linux; 0 = the gateway's own priority). A
    niced writer uses the event loop's idle time and gives the core back the moment a
    request needs it; batches written under load, on flush or on close go to a second
    thread of normal priority, so a busy host cannot starve the log (see ``sinks``)."""
    retention_days: Annotated[float, Meta(gt=0)] | None = None
    """Delete requests (and their attempts) older than this; None keeps everything.
    Feedback is kept: it is small and may arrive long after the request."""
    prices: dict[str, dict[str, Price]] = {}
    """Overrides of the shipped price table: ``{provider: {model: {input, output}}}``."""
    prices_file: str | None = None
    """A JSON file in the same shape as ``prices``, merged over the shipped table."""
