"""One finished request → one ``requests`` row (a plain tuple; its attempts ride in ``detail``)
and its ``request_keys`` text ("" when it needs none), in two steps:

- `capture` runs on the event loop when the request is done: it copies the few values the
  row needs out of the call, reply and outcome into one flat tuple (strings, bytes, numbers),
  and nothing else. Keeping the request's own objects alive until the writer gets to them
  would make every garbage collection walk them; a tuple of atoms costs the collector nothing.
- `RowBuilder.build` runs in the log writer's thread, a batch at a time: model, usage, cost,
  JSON encoding, ids.

No header is copied but the three span headers (that is how secrets stay out —
Authorization, x-portkey-api-key, api-key, x-api-key and the config's api_key are simply never
read), the request body is only peeked for ``model``, and the answer is decoded only for
``usage`` (see ``usage.py``).
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
from proxy.logstore.schema import ID_SHIFT, found_by_time, keys_of, meta_str
from proxy.logstore.settings import LogSettings

_encode = msgspec.json.Encoder().encode
_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


def _reseed() -> None:
    """Forked workers must not share the counter's start, or ids could collide."""
    global _counter
    _counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


os.register_at_fork(after_in_child=_reseed)
_TOKEN_ENDPOINTS = frozenset({"chat", "completions", "embeddings"})
_TOKEN_PATHS = ("/chat/completions", "/completions", "/embeddings", "/messages", "/responses")
_HITS = frozenset({"HIT", "SEMANTIC HIT"})
_SECRET_QUERY = re.compile(r"(?i)([?&](?:key|api[-_]?key|token|access_token|sig)=)[^&#]*")
_TARGET_STEP = re.compile(r"targets\[(\d+)\]")


_LOW = (1 << ID_SHIFT) - 1
Built = tuple[tuple, str]
"""A ``requests`` row and its ``request_keys`` text ("" for none)."""


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


_FORM_MODEL = re.compile(
    rb'(?i)content-disposition:[^\r\n]*;\s*name="model"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n'
    rb"([^\r\n]{1,256})\r\n"
)
_FORM_SCAN = 65536
"""How far into a multipart body the ``model`` field is looked for (it comes before the file in
the SDKs' uploads; a part after a large file is not worth the scan)."""


def _body_model(body: bytes) -> str | None:
    """``model`` of a JSON body, or of a multipart form (audio transcriptions, uploads)."""
    if body[:2] == b"--":
        found = _FORM_MODEL.search(body, 0, _FORM_SCAN)
        return found.group(1).decode("utf-8", "replace") if found else None
    return peek(body).model


_PEEK = object()
"""`capture`'s model hint when the body was not parsed: peek at it in the writer."""


def _model_hint(call: Any, target_path: str | None) -> Any:
    """The model from the answering target's ``override_params`` or the parsed body; `_PEEK`
    when only the raw body can tell (the writer peeks at it)."""
    node = _leaf(call.config, target_path) if target_path and "[" in target_path else call.config
    over = getattr(node, "override_params", None)
    if over and isinstance(over.get("model"), str):
        return over["model"]
    cached = getattr(call, "_json", None)
    if isinstance(cached, dict):
        m = cached.get("model")
        return m if isinstance(m, str) else None
    return _PEEK


Captured = tuple
"""What `capture` returns (see there for the order of the fields)."""


def capture(call: Any, reply: Any, outcome: Any) -> Captured:
    """The values of one finished request that its row needs, as one flat tuple. Runs on the
    event loop for every request: attribute reads and tuple building only."""
    h = call.headers
    config = call.config
    if reply is not None:
        target_path = reply.target_path
        rep = (
            target_path,
            reply.provider,
            reply.retries,
            reply.ttfb_ms,
            reply.cache_status,
            reply.error,
        )
    else:
        target_path = rep = None
    # The id sorts by arrival (µs); the low bits are a per-process counter with a random
    # start. Two workers can still pick the same id (same µs, same low bits): the writer
    # notices the unique index's complaint and moves the later row to the next free id.
    arrived_ns = call.arrived_ns or time.time_ns() - int(outcome.latency_ms * 1_000_000)
    return (
        ((arrived_ns // 1000) << ID_SHIFT) | (next(_counter) & _LOW),
        call.trace_id,
        call.trace_made,
        h.get("x-portkey-span-id"),
        h.get("x-portkey-parent-span-id"),
        h.get("x-portkey-span-name"),
        call.method,
        call.path,
        call.endpoint,
        config.provider,
        call.body,
        call.metadata or None,
        call.cache.mode if call.cache is not None else None,
        _model_hint(call, target_path),
        [
            (
                a.target_path,
                a.provider,
                a.url if "?" not in a.url else scrub_url(a.url),
                a.status,
                a.latency_ms,
                a.ttfb_ms,
                a.error,
                a.started_at,
            )
            for a in call.attempts
        ],
        rep,
        outcome.status,
        outcome.latency_ms,
        outcome.streamed,
        outcome.complete,
        outcome.error,
        outcome.stream_tail if outcome.streamed else outcome.body,
        outcome.bytes_out,
    )


class RowBuilder:
    """Builds rows in the log writer. Every request pays for this code, so it keeps
    to few calls: a function call costs more here than most of the arithmetic around it."""

    def __init__(self, settings: LogSettings, prices: Prices) -> None:
        self.bodies = settings.bodies
        self.limit = settings.body_limit if settings.bodies == "truncated" else None
        self.prices = prices

    def _body(self, data: bytes | None) -> bytes | None:
        if self.bodies == "off" or not data:
            return None
        if self.limit is not None and len(data) > self.limit:
            return data[: self.limit]
        return data

    def build(self, call: Any, reply: Any, outcome: Any) -> Built:
        """`capture` and `build_captured` in one go (tests, tools)."""
        return self.build_captured(capture(call, reply, outcome))

    def build_captured(self, cap: Captured) -> Built:
        (
            rid,
            trace_id,
            trace_made,
            span_id,
            parent_span_id,
            span_name,
            method,
            path,
            endpoint,
            config_provider,
            body,
            meta,
            cache_mode,
            hint,
            attempts_in,
            rep,
            status,
            latency_ms,
            streamed,
            complete,
            error,
            answer,
            bytes_out,
        ) = cap
        if rep is not None:
            target_path, provider, retries, ttfb_ms, cache_status, rep_error = rep
        else:
            target_path = provider = ttfb_ms = cache_status = rep_error = None
            retries = 0
        provider = provider or config_provider
        model = _body_model(body) if hint is _PEEK else hint
        tokens = usage.NONE
        if status == 101:  # a realtime session: the summary the relay wrote sums its usage
            tokens = usage.from_body(answer, 0)
        elif 200 <= status < 300 and (endpoint in _TOKEN_ENDPOINTS or path.endswith(_TOKEN_PATHS)):
            if streamed:
                tokens = usage.from_stream(answer, bytes_out, len(body))
            else:
                tokens = usage.from_body(answer, len(body))
        model = model or tokens.model
        if cache_status in _HITS:
            cost = 0.0 if tokens.total is not None else None
        else:
            cost = self.prices.cost(
                provider, tokens.model or model, tokens.prompt, tokens.completion
            )
        detail = Detail(
            span_id,
            parent_span_id,
            span_name,
            method,
            path,
            target_path,
            len(attempts_in),
            retries,
            ttfb_ms,
            cache_mode,
            streamed,
            tokens.estimated,
            error or rep_error,
            len(body),
            bytes_out,
            attempts_in,
        )
        row = (
            rid,
            trace_id,
            provider or None,
            model,
            endpoint,
            status,
            latency_ms,
            int(complete),
            cache_status,
            tokens.prompt,
            tokens.completion,
            tokens.total,
            cost,
            _encode(meta).decode() if meta else None,
            _encode(detail).decode(),
            self._body(body),
            self._body(answer),
        )
        user = meta_str(meta.get("_user")) if meta else None
        # A trace id the gateway made carries this row's own time, so `found_by_time` holds
        # by construction (no need to parse the id to know).
        return row, keys_of(trace_id, user, by_time=trace_made or found_by_time(trace_id, rid))
