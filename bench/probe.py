"""One request checked by hand before a row is measured: is the answer what the row expects?"""

from __future__ import annotations

import http.client
import time

from bench.procs import LOOPBACK, loopback_request
from bench.scenarios import Scenario


def probe(port: int, scenario: Scenario, headers: dict[str, str], *, gateway: bool) -> str | None:
    """Requests checked by hand (two when headers are expected); why the row cannot be
    measured, or None."""
    tries = 2 if gateway and scenario.expect else 1
    for _ in range(tries):
        try:
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
            conn.request(
                "POST",
                scenario.path,
                body=scenario.body,
                headers={"Content-Type": "application/json", **headers},
            )
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
        except OSError as e:
            return f"probe failed: {e!r}"
        if resp.status != 200:
            return f"probe answered {resp.status}: {body[:200]!r}"
    if scenario.stream and b"data: [DONE]" not in body:
        return f"stream did not end with data: [DONE]: {body[-200:]!r}"
    if not scenario.stream and b'"choices"' not in body:
        return f"not a chat.completion: {body[:200]!r}"
    if gateway:
        for name, want in scenario.expect.items():
            if resp.getheader(name) != want:
                return f"expected {name}: {want}, got {resp.getheader(name)!r}"
    return None


def log_backlog(port: int) -> int:
    """The gateway's ``lockgate_log_rows_unwritten`` (0 when it keeps no log)."""
    _, _, body = loopback_request(port, "GET", "/metrics", timeout=10)
    for line in body.decode().splitlines():
        if line.startswith("lockgate_log_rows_unwritten"):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def drain_log(port: int, limit_s: float = 60.0) -> float:
    """Wait until the gateway has committed every log row it was handed; seconds waited.

    The writer may trail the requests (its queue holds thousands of rows), so a short run can
    end before its log is written. A fair throughput counts that time too (see ``bench.ab``)."""
    started = time.perf_counter()
    while log_backlog(port) and time.perf_counter() - started < limit_s:
        time.sleep(0.005)
    return time.perf_counter() - started
