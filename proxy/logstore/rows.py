"""One finished request → one ``requests`` row, its ``request_keys`` text and its
``attempts`` rows (plain tuples).

Runs in the log writer's thread, a batch at a time (the event loop only queues the request's
objects, which nothing mutates once it is answered). No header is copied (that is how secrets
stay out — Authorization, x-portkey-api-key, api-key, x-api-key and the config's api_key are
simply never read), the request body is only peeked for ``model``, and the answer is decoded
only for ``usage`` (see ``usage.py``).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

import msgspec

from proxy.jsonbody import peek
from proxy.logstore import usage
from proxy.logstore.models import Detail
from proxy.logstore.prices import Prices
from proxy.logstore.schema import ID_SHIFT, keys_of, meta_str
from proxy.logstore.settings import LogSettings

_encode = msgspec.json.encode
_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


def _reseed() -> None:
    """Forked workers must not share the counter's start, or ids could collide."""
    global _counter
    _counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


os.register_at_fork(after_in_child=_reseed)
_TOKEN_ENDPOINTS = frozenset({"chat", "completions", "embeddings"})
_TOKEN_PATHS = ("/chat/completions", "/completions", "/embeddings", "/messages")
_HITS = frozenset({"HIT", "SEMANTIC HIT"})
_SECRET_QUERY = re.compile(r"(?i)([?&](?:key|api[-_]?key|token|access_token|sig)=)[^&#]*")
_TARGET_STEP = re.compile(r"targets\[(\d+)\]")


_LOW = (1 << ID_SHIFT) - 1
Built = tuple[tuple, str, list[tuple]]


def new_id(arrival_ns: int) -> int:
    """Sortable by arrival time (µs); the low bits are a per-process counter with a random
    start. Two workers can still pick the same id (same µs, same low bits): the writer
    notices the unique index's complaint and moves the later row to the next free id."""
    return ((arrival_ns // 1000) << ID_SHIFT) | (next(_counter) & _LOW)


def scrub_url(url: str) -> str:
    """Upstream URLs carry no key by contract; strip key-like query values anyway."""
    return _SECRET_QUERY.sub(r"\1***", url) if "?" in url else url


def _leaf(config: Any, target_path: str) -> Any:
    """The config node a ``config.targets[1].targets[0]`` path names (or None)."""
    node = config
    for idx in _TARGET_STEP.findall(target_path):
        targets = getattr(node, "targets", None)
        i = int(idx)
        if not targets or i >= len(targets):
            return None
        node = targets[i]
    return node


def _model(call: Any, target_path: str | None) -> str | None:
    node = _leaf(call.config, target_path) if target_path else call.config
    over = getattr(node, "override_params", None)
    if over and isinstance(over.get("model"), str):
        return over["model"]
    cached = getattr(call, "_json", None)
    if isinstance(cached, dict):
        m = cached.get("model")
        return m if isinstance(m, str) else None
    return peek(call.body).model


class RowBuilder:
    def __init__(self, settings: LogSettings, prices: Prices) -> None:
        self.bodies = settings.bodies
        self.limit = settings.body_limit
        self.prices = prices

    def _body(self, data: bytes | None) -> bytes | None:
        if self.bodies == "off" or not data:
            return None
        if self.bodies == "truncated" and len(data) > self.limit:
            return data[: self.limit]
        return data

    def build(self, call: Any, reply: Any, outcome: Any, now_ns: int | None = None) -> Built:
        """``now_ns``: when the request finished (``time.time_ns()``, taken on the loop)."""
        if now_ns is None:
            now_ns = time.time_ns()
        arrival_ns = now_ns - int(outcome.latency_ms * 1_000_000)
        rid = new_id(arrival_ns)
        target_path = reply.target_path if reply is not None else None
        provider = (reply.provider if reply is not None else "") or getattr(
            call.config, "provider", None
        )
        model = _model(call, target_path)
        tokens = usage.NONE
        status = outcome.status
        if 200 <= status < 300 and (
            call.endpoint in _TOKEN_ENDPOINTS or call.path.endswith(_TOKEN_PATHS)
        ):
            if outcome.streamed:
                tokens = usage.from_stream(outcome.stream_tail, outcome.bytes_out, len(call.body))
            else:
                tokens = usage.from_body(outcome.body, len(call.body))
        model = model or tokens.model
        cache_status = reply.cache_status if reply is not None else None
        if cache_status in _HITS:
            cost = 0.0 if tokens.total is not None else None
        else:
            cost = self.prices.cost(
                provider, tokens.model or model, tokens.prompt, tokens.completion
            )
        meta = call.metadata
        user = meta_str(meta.get("_user")) if meta else None
        h = call.headers
        detail = Detail(
            span_id=h.get("x-portkey-span-id"),
            parent_span_id=h.get("x-portkey-parent-span-id"),
            span_name=h.get("x-portkey-span-name"),
            method=call.method,
            path=call.path,
            target_path=target_path,
            attempt_count=len(call.attempts),
            retries=reply.retries if reply is not None else 0,
            ttfb_ms=reply.ttfb_ms if reply is not None else None,
            cache_mode=call.cache.mode if call.cache is not None else None,
            streamed=outcome.streamed,
            tokens_estimated=tokens.estimated,
            error=outcome.error or (reply.error if reply is not None else None),
            bytes_in=len(call.body),
            bytes_out=outcome.bytes_out,
        )
        row = (
            rid,
            call.trace_id,
            provider or None,
            model,
            call.endpoint,
            status,
            outcome.latency_ms,
            int(outcome.complete),
            cache_status,
            tokens.prompt,
            tokens.completion,
            tokens.total,
            cost,
            _encode(meta).decode() if meta else None,
            _encode(detail).decode(),
            self._body(call.body),
            self._body(outcome.stream_tail if outcome.streamed else outcome.body),
        )
        attempts = [
            (
                rid,
                i,
                a.target_path,
                a.provider,
                scrub_url(a.url),
                a.status,
                a.latency_ms,
                a.ttfb_ms,
                a.error,
                a.started_at,
            )
            for i, a in enumerate(call.attempts)
        ]
        return row, keys_of(call.trace_id, user), attempts
