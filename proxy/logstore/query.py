"""Filters over the ``requests`` table, shared by the HTTP API and the CLI.

A `LogFilter` is built from query parameters (``provider=…&status=5xx&metadata._user=u1``) and
turns into a WHERE clause with bound parameters; nothing from the client is ever spliced into
SQL text except metadata keys, which are checked against a strict pattern first.

A time range is a range of ``id`` (ids start with the arrival time); a trace id or
``metadata._user`` first matches its hash token in ``request_keys``, then the value itself; a
trace id that carries its time (one the gateway made up) is also looked for in the id range
around that time, where its rows are when they have no token.
`entry` turns a selected row back into the API's `LogEntry`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from proxy.logstore.models import AttemptEntry, Detail, LogEntry
from proxy.logstore.schema import (
    REQUEST_COLUMNS,
    created_at,
    format_id,
    id_at,
    id_window,
    meta_str,
    parse_id,
    trace_key,
    user_key,
)

_META_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_STATUS = re.compile(r"^([1-5])xx$", re.I)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_LIMIT = 1000
LIST_COLUMNS = tuple(c for c in REQUEST_COLUMNS if c not in ("request_body", "response_body"))
"""What a list selects (no bodies); `entry` reads rows of these, plus the bodies if asked."""
_detail = msgspec.json.Decoder(Detail)
_KEYED = "id IN (SELECT rowid FROM request_keys WHERE request_keys MATCH ?)"
_meta = msgspec.json.Decoder(dict[str, Any])


class QueryError(ValueError):
    """A bad filter; ``str()`` starts with the parameter's name."""


class LogFilter(msgspec.Struct, kw_only=True):
    trace_id: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str | None = None
    cache_status: str | None = None
    since: float | None = None
    until: float | None = None
    metadata: dict[str, str] = {}

    def where(self) -> tuple[str, list[Any]]:
        sql: list[str] = []
        args: list[Any] = []
        tokens: list[str] = []
        if self.trace_id is not None:
            window = id_window(self.trace_id)
            if window is None:
                tokens.append(trace_key(self.trace_id))
            else:
                sql.append(f"(id BETWEEN ? AND ? OR {_KEYED})")
                args += [*window, trace_key(self.trace_id)]
        if self.metadata.get("_user") is not None:
            tokens.append(user_key(self.metadata["_user"]))
        if tokens:
            sql.append(_KEYED)
            args.append(" AND ".join(tokens))
        for col in ("trace_id", "provider", "model", "cache_status"):
            v = getattr(self, col)
            if v is not None:
                sql.append(f"{col} = ?")
                args.append(v)
        if self.status is not None:
            m = _STATUS.match(self.status)
            if m:
                base = int(m.group(1)) * 100
                sql.append("status >= ? AND status < ?")
                args += [base, base + 100]
            else:
                sql.append("status = ?")
                args.append(int(self.status))
        if self.since is not None:
            sql.append("id >= ?")
            args.append(id_at(self.since))
        if self.until is not None:
            sql.append("id < ?")
            args.append(id_at(self.until))
        for key, value in self.metadata.items():
            col, extra = meta_expr(key)
            sql.append(f"{col} = ?")
            args += extra + [value]
        return (" WHERE " + " AND ".join(sql)) if sql else "", args


def meta_expr(key: str) -> tuple[str, list[Any]]:
    """SQL for one metadata key (``_user`` is found through ``request_keys`` first)."""
    if not _META_KEY.match(key):
        raise QueryError(f"metadata.{key}: key must be 1-64 of [A-Za-z0-9_.-]")
    return "json_extract(metadata, ?)", [f'$."{key}"']


def _finite(seconds: float, text: str) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"not a time: {text}")
    return seconds


def parse_time(text: str, *, now: float | None = None) -> float:
    """Unix seconds, ISO 8601 (naive = UTC), or a duration back from now (``15m``, ``24h``)."""
    text = text.strip()
    m = _DURATION.match(text)
    if m:
        back = float(m.group(1)) * _UNITS[m.group(2)]
        return _finite((now if now is not None else time.time()) - back, text)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _finite(seconds, text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def filter_from_params(params: Mapping[str, str]) -> LogFilter:
    """Query parameters → `LogFilter`; `QueryError` names the bad parameter."""
    f = LogFilter()
    for name in ("trace_id", "provider", "model", "cache_status"):
        if params.get(name):
            setattr(f, name, params[name])
    status = params.get("status")
    if status:
        if not (_STATUS.match(status) or (status.isdigit() and 100 <= int(status) <= 599)):
            raise QueryError("status: expected a status code (e.g. 429) or a class (e.g. 5xx)")
        f.status = status
    for name in ("since", "until"):
        if params.get(name):
            try:
                setattr(f, name, parse_time(params[name]))
            except ValueError:
                raise QueryError(
                    f"{name}: expected unix seconds, ISO 8601 or a duration like 24h"
                ) from None
    meta: dict[str, str] = {}
    for k, v in params.items():
        if k.startswith("metadata."):
            key = k[len("metadata.") :]
            meta_expr(key)  # validates
            meta[key] = v
    f.metadata = meta
    return f


def parse_limit(text: str | None, default: int = 50) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise QueryError(f"limit: expected an integer between 1 and {MAX_LIMIT}")
    return int(text)


def list_sql(
    f: LogFilter, *, limit: int, cursor: str | int | None = None, bodies: bool = False
) -> tuple[str, list[Any]]:
    """Newest first; ``cursor`` is the last id of the previous page (ids sort by arrival)."""
    where, args = f.where()
    if cursor is not None and cursor != "":
        rid = parse_id(cursor) if isinstance(cursor, str) else cursor
        if rid is None:
            raise QueryError("cursor: expected the next_cursor of a previous page")
        where = (where + " AND " if where else " WHERE ") + "id < ?"
        args.append(rid)
    columns = REQUEST_COLUMNS if bodies else LIST_COLUMNS
    return (
        f"SELECT {', '.join(columns)} FROM requests{where} ORDER BY id DESC LIMIT ?",
        args + [limit],
    )


def entry(row: tuple | list, *, attempts: bool = False) -> LogEntry:
    """A row of `LIST_COLUMNS` (+ the two bodies, when selected) → `LogEntry` (with its
    attempts when asked: they are stored in ``detail``)."""
    meta = _meta.decode(row[13]) if row[13] else {}
    d = _detail.decode(row[14])
    rid = row[0]
    e = LogEntry(
        id=format_id(rid),
        trace_id=row[1],
        span_id=d.span_id,
        parent_span_id=d.parent_span_id,
        span_name=d.span_name,
        created_at=created_at(rid),
        method=d.method,
        path=d.path,
        endpoint=row[4],
        provider=row[2],
        model=row[3],
        target_path=d.target_path,
        attempt_count=d.attempt_count,
        retries=d.retries,
        status=row[5],
        latency_ms=row[6],
        ttfb_ms=d.ttfb_ms,
        cache_status=row[8],
        cache_mode=d.cache_mode,
        streamed=d.streamed,
        complete=bool(row[7]),
        prompt_tokens=row[9],
        completion_tokens=row[10],
        total_tokens=row[11],
        tokens_estimated=d.tokens_estimated,
        cost=row[12],
        metadata=meta,
        meta_user=meta_str(meta.get("_user")),
        meta_organisation=meta_str(meta.get("_organisation")),
        meta_environment=meta_str(meta.get("_environment")),
        meta_prompt=meta_str(meta.get("_prompt")),
        error=d.error,
        bytes_in=d.bytes_in,
        bytes_out=d.bytes_out,
    )
    if len(row) > 15:
        e.request_body = _text(row[15])
        e.response_body = _text(row[16])
    if attempts:
        e.attempts = [
            AttemptEntry(
                seq=i,
                target_path=a[0],
                provider=a[1],
                url=a[2],
                status=a[3],
                latency_ms=a[4],
                ttfb_ms=a[5],
                error=a[6],
                started_at=a[7],
            )
            for i, a in enumerate(d.attempts)
        ]
    return e


def _text(b: bytes | str | None) -> str | None:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b
