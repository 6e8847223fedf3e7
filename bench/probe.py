"""One request checked by hand before a row is measured: is the answer what the row expects?"""

from __future__ import annotations

import http.client

from bench.procs import LOOPBACK
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
