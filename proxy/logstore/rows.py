"""One finished request → one ``requests`` row and its ``attempts`` rows (plain tuples).

Runs on the event loop once per request, so it does little: no header is copied (that is how
secrets stay out — Authorization, x-portkey-api-key, api-key, x-api-key and the config's
api_key are simply never read), the request body is only peeked for ``model``, and the answer
is decoded only for ``usage`` (see ``usage.py``).
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
from proxy.logstore.prices import Prices
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


def new_id(arrival_ns: int) -> str:
    """Sortable by arrival time; unique across processes (random start, then a counter)."""
    return f"{arrival_ns:016x}{next(_counter) & 0xFFFFFFFF:08x}"


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

    def build(self, call: Any, reply: Any, outcome: Any) -> tuple[tuple, list[tuple]]:
        now_ns = time.time_ns()
        arrival_ns = now_ns - int(outcome.latency_ms * 1_000_000)
        rid = new_id(arrival_ns)
        target_path = reply.target_path if reply is not None else None
        provider = (reply.provider if reply is not None else "") or getattr(
            call.config, "provider", None
        )
        model = _model(call, target_path)
        tokens = usage.NONE
        ok = 200 <= outcome.status < 300
        if ok and (call.endpoint in _TOKEN_ENDPOINTS or call.path.endswith(_TOKEN_PATHS)):
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
        meta = call.metadata or {}
        h = call.headers
        error = outcome.error or (reply.error if reply is not None else None)
        row = (
            rid,
            call.trace_id,
            h.get("x-portkey-span-id"),
            h.get("x-portkey-parent-span-id"),
            h.get("x-portkey-span-name"),
            arrival_ns / 1e9,
            call.method,
            call.path,
            call.endpoint,
            provider or None,
            model,
            target_path,
            len(call.attempts),
            reply.retries if reply is not None else 0,
            outcome.status,
            outcome.latency_ms,
            reply.ttfb_ms if reply is not None else None,
            cache_status,
            call.cache.mode if call.cache is not None else None,
            int(outcome.streamed),
            int(outcome.complete),
            tokens.prompt,
            tokens.completion,
            tokens.total,
            int(tokens.estimated),
            cost,
            _encode(meta).decode() if meta else None,
            _s(meta.get("_user")),
            _s(meta.get("_organisation")),
            _s(meta.get("_environment")),
            _s(meta.get("_prompt")),
            error,
            len(call.body),
            outcome.bytes_out,
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
        return row, attempts


def _s(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else _encode(v).decode()
