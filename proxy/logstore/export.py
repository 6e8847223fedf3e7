"""Encoders for export (HTTP and CLI): JSON lines, or CSV with metadata as a JSON cell."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec

from proxy.logstore.models import LogEntry

CSV_COLUMNS = tuple(
    f
    for f in LogEntry.__struct_fields__
    if f not in ("request_body", "response_body", "attempts", "feedback")
)
_encode = msgspec.json.encode


def jsonl_lines(page: list[LogEntry]) -> bytes:
    return b"".join(_encode(e) + b"\n" for e in page)


def csv_lines(page: list[LogEntry] | None) -> bytes:
    """CSV rows (or the header row when ``page`` is None)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if page is None:
        w.writerow(CSV_COLUMNS)
    else:
        for e in page:
            w.writerow(_cell(getattr(e, c)) for c in CSV_COLUMNS)
    return buf.getvalue().encode()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, dict):
        return _encode(v).decode() if v else ""
    if isinstance(v, bool):
        return int(v)
    return v
