"""``lockgate logs tail|search|export`` and ``lockgate stats``: the log store from a terminal.

Reads the SQLite file directly (read-only; WAL lets it run beside a live gateway), so it works
whether or not the gateway is up. Register with ``add_subcommands(subparsers)``; each command
sets ``func`` (``args.func(args) -> int`` exit code).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from proxy.logstore import analytics as an
from proxy.logstore.export import csv_lines, jsonl_lines
from proxy.logstore.models import Analytics, GroupStats, LogEntry
from proxy.logstore.query import LIST_COLUMNS, LogFilter, QueryError, entry, list_sql, parse_time
from proxy.logstore.schema import open_sync
from proxy.logstore.settings import LogSettings

DEFAULT_DATA_DIR = "./data"
_TAIL_COLS = (
    "time",
    "trace",
    "provider",
    "model",
    "status",
    "ms",
    "ttfb",
    "tokens",
    "cost",
    "cache",
    "retry",
    "error",
)
_RIGHT = frozenset(
    {
        "status",
        "ms",
        "ttfb",
        "tokens",
        "cost",
        "retry",
        "requests",
        "err%",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "hits",
        "fb n",
        "fb avg",
    }
)
_WIDTH = {
    "time": 19,
    "trace": 14,
    "provider": 12,
    "model": 24,
    "status": 6,
    "ms": 8,
    "ttfb": 7,
    "tokens": 7,
    "cost": 9,
    "cache": 7,
    "retry": 5,
    "error": 40,
}


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Add ``logs`` (tail, search, export) and ``stats`` to the ``lockgate`` parser."""
    logs = sub.add_parser("logs", help="read the request log")
    logs_sub = logs.add_subparsers(dest="logs_cmd", required=True)

    tail = logs_sub.add_parser("tail", help="the latest requests (-f: keep following)")
    _common(tail)
    tail.add_argument("-n", type=int, default=20, help="rows to show first (default 20)")
    tail.add_argument("-f", "--follow", action="store_true")
    tail.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    tail.set_defaults(func=cmd_tail)

    search = logs_sub.add_parser("search", help="requests matching filters, newest first")
    _common(search)
    _filters(search)
    search.add_argument("--limit", type=int, default=50)
    search.set_defaults(func=cmd_search)

    export = logs_sub.add_parser("export", help="matching requests as JSON lines or CSV")
    _common(export)
    _filters(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--bodies", action="store_true", help="include bodies (jsonl)")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.set_defaults(func=cmd_export)

    stats = sub.add_parser("stats", help="requests, errors, latency, tokens, cost, feedback")
    _common(stats)
    _filters(stats)
    stats.add_argument(
        "--by",
        default="provider",
        help="provider | model | status | cache_status | endpoint | metadata.<key>",
    )
    stats.set_defaults(func=cmd_stats)


def _common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a --data-dir given on the parent parser is not overwritten by this default.
    p.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help=f"gateway data directory (default {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--db", default=None, help="the log SQLite file itself")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider")
    p.add_argument("--model")
    p.add_argument("--status", help="a code (429) or a class (5xx)")
    p.add_argument("--trace-id")
    p.add_argument("--cache-status")
    p.add_argument("--since", help="unix time, ISO 8601, or a duration back (15m, 24h, 7d)")
    p.add_argument("--until")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")


def db_path(args: argparse.Namespace) -> Path:
    if getattr(args, "db", None):
        return Path(args.db)
    return Path(getattr(args, "data_dir", None) or DEFAULT_DATA_DIR) / LogSettings().file


def _connect(args: argparse.Namespace) -> Any:
    path = db_path(args)
    if not path.exists():
        raise SystemExit(
            f"lockgate: no log store at {path} (has the gateway run with this --data-dir?)"
        )
    return open_sync(str(path), readonly=True)


def filter_from_args(args: argparse.Namespace) -> LogFilter:
    f = LogFilter(
        trace_id=args.trace_id,
        provider=args.provider,
        model=args.model,
        cache_status=args.cache_status,
        status=args.status,
    )
    try:
        if args.status is not None:
            f.where()  # validates the status form
        f.since = parse_time(args.since) if args.since else None
        f.until = parse_time(args.until) if args.until else None
    except ValueError as e:
        raise SystemExit(f"lockgate: bad filter: {e}") from None
    for kv in args.metadata:
        key, sep, value = kv.partition("=")
        if not sep:
            raise SystemExit(f"lockgate: --metadata wants KEY=VALUE, got {kv!r}")
        f.metadata[key] = value
    return f


def pages(
    conn: Any, f: LogFilter, *, bodies: bool = False, page: int = 1000
) -> Iterator[list[LogEntry]]:
    cursor = None
    while True:
        try:
            sql, params = list_sql(f, limit=page, cursor=cursor, bodies=bodies)
        except QueryError as e:
            raise SystemExit(f"lockgate: {e}") from None
        rows = conn.execute(sql, params).fetchall()
        if not rows:
            return
        yield [entry(r) for r in rows]
        if len(rows) < page:
            return
        cursor = rows[-1][0]


def _fmt_row(e: LogEntry) -> dict[str, str]:
    tokens = (
        "" if e.total_tokens is None else f"{e.total_tokens}{'~' if e.tokens_estimated else ''}"
    )
    return {
        "time": datetime.fromtimestamp(e.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        "trace": e.trace_id[:14],
        "provider": e.provider or "-",
        "model": e.model or "-",
        "status": str(e.status) + ("" if e.complete else "!"),
        "ms": f"{e.latency_ms:.1f}",
        "ttfb": "" if e.ttfb_ms is None else f"{e.ttfb_ms:.1f}",
        "tokens": tokens,
        "cost": _money(e.cost),
        "cache": {"DISABLED": "-"}.get(e.cache_status or "", e.cache_status or "-"),
        "retry": str(e.retries),
        "error": (e.error or "").replace("\n", " "),
    }


def table(
    cols: Sequence[str],
    rows: list[dict[str, str]],
    *,
    fixed: bool = False,
    titles: dict[str, str] | None = None,
) -> str:
    """Aligned columns; numbers right-aligned; over-long cells cut with an ellipsis."""
    head = {c: (titles or {}).get(c, c).upper() for c in cols}
    widths = {}
    for c in cols:
        cap = _WIDTH.get(c, 40)
        widest = max([len(head[c])] + [len(r[c]) for r in rows])
        widths[c] = cap if fixed else min(cap, widest) if c != cols[-1] else widest
    lines = [_line(cols, head, widths)]
    lines += [_line(cols, r, widths) for r in rows]
    return "\n".join(lines)


def _line(cols: Sequence[str], row: dict[str, str], widths: dict[str, int]) -> str:
    cells = []
    for c in cols:
        v, w = row[c], widths[c]
        if len(v) > w:
            v = v[: max(w - 1, 0)] + "…"
        cells.append(v.rjust(w) if c in _RIGHT else v.ljust(w))
    return "  ".join(cells).rstrip()


def cmd_tail(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    conn = _connect(args)
    cols = ", ".join(LIST_COLUMNS)
    rows = conn.execute(
        f"SELECT rowid, {cols} FROM requests ORDER BY rowid DESC LIMIT ?", [args.n]
    ).fetchall()[::-1]
    last = rows[-1][0] if rows else 0
    out.write(
        table(
            _TAIL_COLS,
            [_fmt_row(entry(r[1:])) for r in rows],
            fixed=args.follow,
        )
        + "\n"
    )
    out.flush()
    try:
        while args.follow:
            time.sleep(args.interval)
            new = conn.execute(
                f"SELECT rowid, {cols} FROM requests WHERE rowid > ? ORDER BY rowid", [last]
            ).fetchall()
            for r in new:
                e = entry(r[1:])
                out.write(_line(_TAIL_COLS, _fmt_row(e), _WIDTH) + "\n")
                last = r[0]
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()
    return 0


def cmd_search(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    conn = _connect(args)
    f = filter_from_args(args)
    found: list[LogEntry] = []
    for page in pages(conn, f, page=min(args.limit, 1000)):
        found += page
        if len(found) >= args.limit:
            break
    conn.close()
    found = found[: args.limit]
    if not found:
        out.write("no matching requests\n")
        return 0
    out.write(table(_TAIL_COLS, [_fmt_row(e) for e in found]) + "\n")
    out.write(f"{len(found)} request{'s' if len(found) != 1 else ''} (newest first)\n")
    return 0


def cmd_export(args: argparse.Namespace, out: Any = None) -> int:
    conn = _connect(args)
    f = filter_from_args(args)
    sink = open(args.output, "wb") if args.output else (out or sys.stdout.buffer)
    try:
        if args.format == "csv":
            sink.write(csv_lines(None))
        for page in pages(conn, f, bodies=args.bodies and args.format == "jsonl"):
            sink.write(jsonl_lines(page) if args.format == "jsonl" else csv_lines(page))
        sink.flush()
    finally:
        conn.close()
        if args.output:
            sink.close()
    return 0


def compute_stats(conn: Any, f: LogFilter, group_by: str | None) -> Analytics:
    stats, sargs, fsql, fargs = an.analytics_sql(f, group_by)
    tstats, targs, tfsql, tfargs = an.totals_sql(f)
    groups = conn.execute(stats, sargs).fetchall() if group_by else []
    fbs = conn.execute(fsql, fargs).fetchall() if group_by else []
    return an.build(
        group_by,
        groups,
        fbs,
        conn.execute(tstats, targs).fetchall(),
        conn.execute(tfsql, tfargs).fetchall(),
    )


def _money(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.6f}" if v < 1 else f"{v:.2f}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _stat_row(key: str, g: GroupStats) -> dict[str, str]:
    return {
        "group": key,
        "requests": str(g.requests),
        "err%": f"{100 * g.error_rate:.1f}",
        "p50 ms": _ms(g.latency_p50_ms),
        "p90 ms": _ms(g.latency_p90_ms),
        "p99 ms": _ms(g.latency_p99_ms),
        "tokens": str(g.total_tokens),
        "cost": _money(g.cost),
        "hits": str(g.cache_hits),
        "fb n": str(g.feedback.count),
        "fb avg": "-" if g.feedback.avg_value is None else f"{g.feedback.avg_value:.2f}",
    }


def cmd_stats(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    conn = _connect(args)
    f = filter_from_args(args)
    try:
        result = compute_stats(conn, f, args.by or None)
    except QueryError as e:
        raise SystemExit(f"lockgate: {e}") from None
    finally:
        conn.close()
    cols = (
        "group",
        "requests",
        "err%",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "tokens",
        "cost",
        "hits",
        "fb n",
        "fb avg",
    )
    rows = [_stat_row(g.key if g.key is not None else "-", g) for g in result.groups]
    rows.append(_stat_row("TOTAL", result.totals))
    out.write(table(cols, rows, titles={"group": args.by or "all"}) + "\n")
    return 0
