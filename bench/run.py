"""`python -m bench.run` (``make bench``): what Lockgate adds over calling the upstream directly.

Starts the fake upstream (`bench.upstream`) and the gateway (``lockgate serve``) on 127.0.0.1,
pinned: gateway on CPU 1, upstream and load generators on CPU 0, so the gateway has one core of
its own. For every scenario (`bench.scenarios`) it measures a ``direct`` row (straight to the
upstream) and a ``lockgate`` row: req/s at 32 connections, p50/p99 latency at one connection,
time to first byte at one connection, and the CPU time per request of the process under test.
Non-streaming rows use wrk; streaming rows and every TTFB use `bench.loadclient`. Each load
generator runs in its own process.

Environment:
    BENCH_SECONDS    length of each throughput run (default 5; latency runs take 0.6×, TTFB 0.4×)
    BENCH_CHUNKS     content chunks per streamed answer (default 20)
    BENCH_SCENARIOS  comma-separated scenario names, or ``all`` (default: `scenarios.SCENARIOS`)
    BENCH_GATEWAY    command that starts the gateway, instead of ``<venv>/bin/lockgate``; it
                     gets ``serve --host --port --data-dir [--settings]`` appended
    BENCH_AB_ROUNDS  rounds of the request log's interleaved A/B (`bench.ab`; default 5, each
                     round is 4 turns of BENCH_AB_SECONDS, default 3); 0 skips it. It runs
                     when both ``chat`` and ``log-off`` are selected.

Writes ``bench/out/results.json`` and ``bench/out/latency.png`` and prints the table. Every
process started is stopped by PID at exit; exits 1 when a row was skipped or saw errors.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ab, machine, report, wrk
from bench.harness import CONNECTIONS, Bench
from bench.options import Options
from bench.procs import Procs

OUT = Path(__file__).resolve().parent / "out"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where started with it ignored
    opts = Options.from_env(dict(os.environ))
    if not wrk.available():
        raise SystemExit("wrk not found: install the wrk package (apt-get install -y wrk)")
    pinning = (
        "gateway on CPU 1; upstream and load generators on CPU 0"
        if opts.pin
        else "not pinned (taskset or a second CPU missing)"
    )
    meta: dict[str, Any] = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.spec(),
        "settings": {
            "seconds": opts.seconds,
            "latency_seconds": opts.latency_seconds,
            "ttfb_seconds": opts.ttfb_seconds,
            "connections": CONNECTIONS,
            "stream_chunks": opts.chunks,
            "pinning": pinning,
            "gateway_command": opts.gateway,
        },
        "scenarios": [
            {
                "name": s.name,
                "path": s.path,
                "stream": s.stream,
                "headers": dict(s.headers),
                "settings": s.settings,
                "direct": s.direct,
                "compare_to": s.baseline,
                "seed": None
                if s.seed is None
                else {"entries": s.seed.entries, "prompt": s.seed.prompt},
            }
            for s in opts.scenarios
        ],
    }
    rows: list[report.Row] = []
    workdir = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    started, ticks = time.monotonic(), machine.cpu_ticks()
    try:
        with Procs(workdir) as children:
            bench = Bench(opts, children, workdir)
            bench.start_upstream()
            for scenario in opts.scenarios:
                for target in bench.targets(scenario):
                    print(f"… {scenario.name} / {target.name}", file=sys.stderr, flush=True)
                    rows.append(bench.measure(scenario, target))
            by_name = {s.name: s for s in opts.scenarios}
            if opts.ab_rounds > 0 and "chat" in by_name and "log-off" in by_name:
                print("… request log A/B (chat vs log-off)", file=sys.stderr, flush=True)
                meta["logging_ab"] = bench.log_ab(by_name["chat"], by_name["log-off"])
            if any(s.seed for s in opts.scenarios):
                print("… cache micro-benchmarks", file=sys.stderr, flush=True)
                meta["cache_micro"] = bench.cache_micro()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta["duration_s"] = round(time.monotonic() - started, 1)
    meta["machine"]["during_run"] = machine.noise(ticks, machine.cpu_ticks())
    report.add_overhead(rows)
    report.write_json(OUT / "results.json", meta, rows)
    report.plot(OUT / "latency.png", rows)
    print(report.table(rows))
    if (log_line := ab.line(meta.get("logging_ab"), opts.ab_seconds)) is not None:
        print(log_line)
        together = (meta.get("logging_ab") or {}).get("together")
        if (shared_line := ab.together_line(together, opts.ab_seconds)) is not None:
            print(shared_line)
    for line in report.cache_lines(rows, meta.get("cache_micro")):
        print(line)
    print(report.legend(meta))
    print(f"wrote {OUT / 'results.json'} and {OUT / 'latency.png'} ({meta['duration_s']} s)")
    bad = [r for r in rows if r.get("skipped") or r.get("errors")]
    for r in bad:
        print(
            f"warning: {r['scenario']} / {r['target']}: "
            f"{r.get('skipped') or str(r['errors']) + ' errors'}",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        sys.exit(130)
