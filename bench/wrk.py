"""Non-streaming load with wrk: a generated lua script sets method, body and headers, and its
``done()`` hook prints the summary and the latency percentiles as one JSON line.

Non-2xx answers are counted by wrk as ``errors.status``; they are reported, and not counted in
the req/s figure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.procs import pinned
from bench.stats import CURVE

_MARK = "BENCHJSON "

_DONE = """
local pcts = {%(pcts)s}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"errors":{"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d},"curve_us":[',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  for i, p in ipairs(pcts) do
    if i > 1 then io.write(",") end
    io.write(string.format("[%%s,%%d]", p, math.floor(latency:percentile(p))))
  end
  io.write("]}\\n")
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    """A lua long-bracket literal, so JSON bodies and headers need no escaping."""
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def script(body: bytes, headers: Mapping[str, str]) -> str:
    """The lua script for one row: POST ``body`` with ``headers`` and a JSON ``done()``."""
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {_lua_string(body.decode())}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    for name, value in headers.items():
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    pcts = ", ".join(str(p) for p in CURVE)
    return "\n".join(lines) + _DONE % {"pcts": pcts, "mark": _MARK}


def run(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    connections: int,
    seconds: float,
    workdir: Path,
    cpu: int | None = None,
    tag: str = "row",
) -> dict[str, object]:
    """Run wrk against ``url``; returns req/s, error counts and latency percentiles in ms.
    ``tag`` names its script file, so runs that overlap do not share one."""
    lua = workdir / f"{tag}.lua"
    lua.write_text(script(body, headers))
    argv: Sequence[str] = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]
    proc = subprocess.run(
        pinned(argv, cpu), capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    raw = json.loads(line[len(_MARK) :])
    errors = raw["errors"]
    secs = raw["duration_us"] / 1e6
    ok = raw["requests"] - errors["status"]
    curve = [(p, us / 1000.0) for p, us in raw["curve_us"]]
    pct = dict(curve)
    return {
        "tool": "wrk",
        "connections": connections,
        "seconds": round(secs, 3),
        "requests": raw["requests"],
        "errors": sum(errors.values()),
        "error_kinds": {k: v for k, v in errors.items() if v},
        "rps": ok / secs if secs else 0.0,
        "p50_ms": pct[50],
        "p99_ms": pct[99],
        "curve_ms": curve,
    }
