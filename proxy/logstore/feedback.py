"""Feedback bodies as the portkey-ai SDK sends them, validated into typed rows.

``feedback.create`` posts one object, ``bulk_create`` a list, ``update`` a partial object to
``/feedback/{id}``. A bad body is answered 400 with a message that starts with the field's
path (``value: …``, ``[2].trace_id: …``) so the caller knows what to fix.
"""

from __future__ import annotations

import re
import time
import uuid

import msgspec

from proxy.logstore.models import FeedbackIn, FeedbackUpdate

MAX_BULK = 1000
_create = msgspec.json.Decoder(FeedbackIn | list[FeedbackIn])
_update = msgspec.json.Decoder(FeedbackUpdate)
_encode = msgspec.json.encode
_ERR = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")
_WHAT = {
    "trace_id": "a non-empty string (the request's x-portkey-trace-id)",
    "value": "an integer between -10 and 10",
    "weight": "a number between 0 and 1",
    "metadata": "a JSON object",
}


class FeedbackError(ValueError):
    """``str()`` is the 400 message: ``<field path>: <what is expected>``."""


def _explain(err: msgspec.ValidationError, *, update: bool = False) -> str:
    """msgspec's error → ``<path>: required|expected <what the field takes>``."""
    m = _ERR.match(str(err))
    msg, path = (m["msg"], m["path"] or "") if m else (str(err), "")
    missing = _MISSING.search(msg)
    if missing:
        path = f"{path}.{missing['field']}"
    path = path.lstrip(".")
    field = path.rsplit(".", 1)[-1]
    if field in _WHAT:
        return f"{path}: {'required,' if missing else 'expected'} {_WHAT[field]}"
    if not path:
        kind = "an object" if update else "a feedback object or an array of them"
        return f"body: expected {kind}"
    return f"{path}: {msg[:1].lower()}{msg[1:]}"


def parse_create(body: bytes) -> list[FeedbackIn]:
    try:
        got = _create.decode(body)
    except msgspec.ValidationError as e:
        raise FeedbackError(_explain(e)) from None
    except msgspec.DecodeError:
        raise FeedbackError("body: not valid JSON") from None
    items = got if isinstance(got, list) else [got]
    if not items:
        raise FeedbackError("body: an empty list has no feedback to record")
    if len(items) > MAX_BULK:
        raise FeedbackError(f"body: at most {MAX_BULK} feedback objects per request")
    return items


def parse_update(body: bytes) -> FeedbackUpdate:
    try:
        upd = _update.decode(body)
    except msgspec.ValidationError as e:
        raise FeedbackError(_explain(e, update=True)) from None
    except msgspec.DecodeError:
        raise FeedbackError("body: not valid JSON") from None
    if all(getattr(upd, f) is msgspec.UNSET for f in ("value", "weight", "metadata")):
        raise FeedbackError("body: nothing to update (give value, weight or metadata)")
    return upd


INSERT = (
    "INSERT INTO feedback (id, trace_id, value, weight, metadata, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT = "SELECT id, trace_id, value, weight, metadata, created_at, updated_at FROM feedback"


def rows_for(items: list[FeedbackIn]) -> list[tuple]:
    now = time.time()
    return [
        (
            uuid.uuid4().hex,
            f.trace_id,
            f.value,
            f.weight,
            _encode(f.metadata).decode() if f.metadata is not None else None,
            now,
            now,
        )
        for f in items
    ]


def update_sql(fid: str, upd: FeedbackUpdate) -> tuple[str, list]:
    sets, args = ["updated_at = ?"], [time.time()]
    if upd.value is not msgspec.UNSET:
        sets.append("value = ?")
        args.append(upd.value)
    if upd.weight is not msgspec.UNSET:
        sets.append("weight = ?")
        args.append(upd.weight)
    if upd.metadata is not msgspec.UNSET:
        sets.append("metadata = ?")
        args.append(_encode(upd.metadata).decode() if upd.metadata is not None else None)
    return f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?", args + [fid]
