"""``lockgate logs …`` and ``lockgate stats`` against a real file, parsed as the lead's
``lockgate`` parser will (a parent parser with its own --data-dir)."""

from __future__ import annotations

import argparse
import csv
import io
import threading
import time

import msgspec
import pytest

from proxy.cli_logs import add_subcommands

from .conftest import record


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lockgate")
    p.add_argument("--data-dir", default="./data")
    add_subcommands(p.add_subparsers(dest="cmd", required=True))
    return p


def run(argv: list[str]) -> str:
    args = parser().parse_args(argv)
    out = io.StringIO()
    assert args.func(args, out) == 0
    return out.getvalue()


@pytest.fixture
async def data_dir(tmp_path, open_logs):
    store = await open_logs()
    for i in range(12):
        await record(
            store,
            provider=("openai", "groq")[i % 2],
            trace_id=f"trace-{i}",
            status=429 if i == 5 else 200,
            latency_ms=float(100 - i),
            metadata={"_user": f"u{i % 3}"},
            model="gpt-4o-mini",
        )
    await store.close()
    return str(tmp_path)


async def test_search_filters_and_aligns(data_dir):
    out = run(
        ["logs", "search", "--data-dir", data_dir, "--provider", "groq", "--metadata", "_user=u2"]
    )
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["TIME", "TRACE", "PROVIDER", "MODEL"]
    traces = [ln.split()[2] for ln in lines[1:-1]]
    assert traces == ["trace-11", "trace-5"]
    assert "trace-5" in out and lines[-1] == "2 requests (newest first)"
    # aligned: STATUS column ends at the same offset on every row
    ends = {
        ln.index(s) + len(s) for ln, s in zip(lines[:-1], ["STATUS", "200", "429"], strict=True)
    }
    assert len(ends) == 1
    out = run(["logs", "search", "--data-dir", data_dir, "--status", "4xx"])
    assert "trace-5" in out and "trace-4 " not in out


async def test_parent_data_dir_is_honoured(data_dir):
    assert "trace-11" in run(["--data-dir", data_dir, "logs", "tail", "-n", "3"])


async def test_tail_and_follow(data_dir, open_logs):
    out = run(["logs", "tail", "--data-dir", data_dir, "-n", "3"])
    assert [ln.split()[2] for ln in out.splitlines()[1:]] == ["trace-9", "trace-10", "trace-11"]

    args = parser().parse_args(
        ["logs", "tail", "--data-dir", data_dir, "-n", "1", "-f", "--interval", "0.02"]
    )
    buf = io.StringIO()

    def follow():
        try:
            args.func(args, buf)
        except _Stop:
            pass

    # -f loops until interrupted: stop it through time.sleep once the new row is printed.
    real_sleep = time.sleep

    def sleep(s):
        if "trace-new" in buf.getvalue():
            raise _Stop
        real_sleep(s)

    t = threading.Thread(target=follow)
    import proxy.cli_logs as cli

    cli.time.sleep, saved = sleep, cli.time.sleep  # type: ignore[attr-defined]
    try:
        t.start()
        store = await open_logs(data_dir)
        await record(store, trace_id="trace-new", latency_ms=500.0)  # arrived "earlier"
        await store.close()
        t.join(5)
    finally:
        cli.time.sleep = saved  # type: ignore[attr-defined]
    assert not t.is_alive() and "trace-new" in buf.getvalue()


class _Stop(Exception):
    pass


async def test_export(data_dir, tmp_path):
    target = tmp_path / "out.csv"
    args = parser().parse_args(
        ["logs", "export", "--data-dir", data_dir, "--format", "csv", "-o", str(target)]
    )
    assert args.func(args) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 12 and rows[0]["trace_id"] == "trace-11"
    args = parser().parse_args(["logs", "export", "--data-dir", data_dir, "--trace-id", "trace-3"])
    sink = io.BytesIO()
    args.func(args, sink)
    [line] = sink.getvalue().splitlines()
    assert msgspec.json.decode(line)["meta_user"] == "u0"


async def test_stats(data_dir):
    out = run(["stats", "--data-dir", data_dir])
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["PROVIDER", "REQUESTS", "ERR%"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows["openai"][1] == "6" and rows["groq"][1] == "6"
    assert rows["TOTAL"][1] == "12" and rows["TOTAL"][2] == "8.3"
    out = run(["stats", "--data-dir", data_dir, "--by", "metadata._user", "--since", "1h"])
    assert {ln.split()[0] for ln in out.splitlines()[1:]} == {"u0", "u1", "u2", "TOTAL"}


def test_missing_store_is_a_clear_error(tmp_path):
    args = parser().parse_args(["stats", "--data-dir", str(tmp_path / "none")])
    with pytest.raises(SystemExit, match="no log store"):
        args.func(args)
