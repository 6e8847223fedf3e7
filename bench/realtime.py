"""`python -m bench.realtime`: what the gateway adds to a realtime (WebSocket) session.

One client socket to the fake upstream's echo (`bench.upstream`), straight and through the
gateway, with the run's pinning (`bench.run`: gateway on its own CPU, upstream and client on
the other):

- round trip: one ~200-byte text frame at a time, ``--frames`` of them (p50, p99);
- throughput: frames per second with ``--window`` frames in flight.

A third row, ``floor``, is the least any aiohttp relay does (`bench.ws_floor`), on the
gateway's CPU: the gateway's cost is best read against it, since on a VM most of a hop's
latency at one frame in flight is waking the other CPU, which any relay pays.

    python -m bench.realtime [--frames 2000] [--window 32] [--json]

Every process it
starts is stopped by PID at exit; it sends traffic to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import procs, scenarios
from bench.harness import REPO, Bench
from bench.options import Options
from bench.procs import Procs
from bench.stats import percentile

FRAME = json.dumps(
    {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "What happens when you mix red & yellow?"}],
        },
    }
)


async def _session(url: str, headers: dict[str, str], frames: int, window: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.ws_connect(url, headers=headers) as ws:
        for _ in range(200):  # warm-up
            await ws.send_str(FRAME)
            await ws.receive_str()
        rtts = []
        for _ in range(frames):
            t0 = time.perf_counter()
            await ws.send_str(FRAME)
            await ws.receive_str()
            rtts.append((time.perf_counter() - t0) * 1e6)
        total = frames * 10
        t0 = time.perf_counter()
        for _ in range(window):
            await ws.send_str(FRAME)
        for i in range(total):
            await ws.receive_str()
            if i + window < total:
                await ws.send_str(FRAME)
        elapsed = time.perf_counter() - t0
    rtts.sort()
    return {
        "rtt_p50_us": round(percentile(rtts, 50), 1),
        "rtt_p99_us": round(percentile(rtts, 99), 1),
        "frames_per_s": round(total / elapsed),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.realtime", description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=2000, help="frames timed one at a time")
    p.add_argument("--window", type=int, default=32, help="frames in flight for throughput")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.frames < 10 or args.window < 1:
        p.error("--frames must be at least 10 and --window at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    opts = Options.from_env(dict(os.environ))
    workdir = Path(tempfile.mkdtemp(prefix="lockgate-realtime-"))
    results: dict[str, Any] = {}
    try:
        with Procs(workdir) as children:
            bench = Bench(opts, children, workdir)
            bench.start_upstream()
            if (cpu := bench.cpu("load")) is not None:
                os.sched_setaffinity(0, {cpu})  # the client shares the upstream's CPU
            up = bench.upstream_url.replace("http://", "ws://")
            floor_port = procs.free_port()
            floor = children.start(
                "ws-floor",
                [sys.executable, "-m", "bench.ws_floor", "--port", str(floor_port)]
                + ["--upstream", up],
                cpu=bench.cpu("gateway"),
                cwd=REPO,
            )
            children.wait_http(floor, floor_port)
            _, port = bench.start_gateway("gateway", workdir / "gateway", "")
            headers = scenarios.Scenario("realtime").gateway_headers(bench.upstream_url)
            at = f"ws://{procs.LOOPBACK}:{{}}/v1/realtime?model=m"
            targets = {
                "direct": (f"{up}/v1/realtime?model=m", {}),
                "floor": (at.format(floor_port), {}),
                "lockgate": (at.format(port), headers),
            }
            for name, (url, hdrs) in targets.items():
                print(f"… realtime / {name}", file=sys.stderr, flush=True)
                results[name] = asyncio.run(_session(url, hdrs, args.frames, args.window))
    except (procs.ProcError, aiohttp.ClientError, OSError) as e:
        print(f"realtime bench failed: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    d, f, g = results["direct"], results["floor"], results["lockgate"]
    results["added_rtt_p50_us"] = round(g["rtt_p50_us"] - d["rtt_p50_us"], 1)
    results["over_floor_rtt_p50_us"] = round(g["rtt_p50_us"] - f["rtt_p50_us"], 1)
    results["frames_ratio_floor"] = round(g["frames_per_s"] / f["frames_per_s"], 3)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'realtime':<10}{'rtt p50':>10}{'rtt p99':>10}{'frames/s':>11}")
    for name in ("direct", "floor", "lockgate"):
        r = results[name]
        row = f"{name:<10}{r['rtt_p50_us']:>8.0f}µs{r['rtt_p99_us']:>8.0f}µs"
        print(f"{row}{r['frames_per_s']:>11,}")
    print(
        f"lockgate per frame (p50): +{results['added_rtt_p50_us']:.0f} µs over direct, "
        f"{results['over_floor_rtt_p50_us']:+.0f} µs over the floor; "
        f"frames/s: {results['frames_ratio_floor']:.2f} of the floor's"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
