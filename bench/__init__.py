"""Lockgate's overhead benchmark: `python -m bench.run` (or `make bench`).

It is not a test suite: it measures. One run starts a fast fake OpenAI upstream and the gateway
on loopback, each pinned to its own CPU, drives load at both from a separate process, and reports
what the gateway adds on top of calling the upstream directly.

    payloads.py    fixed request and response bytes (chat.completion, SSE chunks)
    upstream.py    the fake upstream (aiohttp low-level server + uvloop), own process
    scenarios.py   what is measured: one `Scenario` per row pair, in one list
    procs.py       starting, pinning, health-checking and stopping child processes
    wrk.py         non-streaming load with wrk (lua script, JSON summary from `done()`)
    loadclient.py  a lean HTTP/1.1 client in its own process: req/s, latency, time to first byte
    machine.py     the machine spec written beside the figures
    report.py      table, results.json and latency.png
    ab.py          A/B of two gateways: interleaved turns, or both at once on one core
    harness.py     the fake upstream and gateways started, one row's runs, the log's A/B
    run.py         what one run measures, and the printed report
    versus.py      `python -m bench.versus`: two gateways compared on one shared core
"""
