"""The measuring side of `bench.run`: the fake upstream and gateways it starts, and one row's
runs (wrk, the load client, probes), the request log's A/B, and the shared-core comparison
that `bench.versus` uses too. `bench.run` decides what to measure and prints the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ab, cache_seed, machine, procs, report, wrk
from bench.options import Options
from bench.probe import drain_log, probe
from bench.procs import LOOPBACK, Procs
from bench.scenarios import Scenario

REPO = Path(__file__).resolve().parent.parent
CONNECTIONS = 32
GATEWAY_CPU, LOAD_CPU = 1, 0


@dataclass
class Target:
    """Where one row's requests go, and which process serves them."""

    name: str
    port: int
    headers: dict[str, str]
    pid: int
    skip: str | None = None
    """Why this row cannot be measured (e.g. the gateway did not start)."""


@dataclass(frozen=True)
class GatewaySpec:
    """A gateway to start: its name in reports, its settings (TOML text), and the command
    (None: the run's gateway command)."""

    name: str
    settings: str
    command: list[str] | None = None


class Bench:
    """One run: owns the child processes and measures rows."""

    def __init__(self, opts: Options, procs_: Procs, workdir: Path) -> None:
        self.opts = opts
        self.procs = procs_
        self.workdir = workdir
        self.upstream_port = 0
        self.upstream_pid = 0
        self._gateway: tuple[Any, subprocess.Popen[bytes], int] | None = None
        self._gateways_started = 0

    def cpu(self, which: str) -> int | None:
        if not self.opts.pin:
            return None
        return GATEWAY_CPU if which == "gateway" else LOAD_CPU

    @property
    def upstream_url(self) -> str:
        return f"http://{LOOPBACK}:{self.upstream_port}"

    def start_upstream(self) -> None:
        port = procs.free_port()
        proc = self.procs.start(
            "upstream",
            [
                sys.executable,
                "-m",
                "bench.upstream",
                "--port",
                str(port),
                "--chunks",
                str(self.opts.chunks),
            ],
            cpu=self.cpu("load"),
            cwd=REPO,
        )
        self.procs.wait_http(proc, port)
        self.upstream_port, self.upstream_pid = port, proc.pid

    def gateway(self, scenario: Scenario) -> tuple[int, int]:
        """The gateway for this scenario's settings (restarted when the settings change)."""
        text = scenario.settings_text(self.upstream_url)
        key = (text, scenario.seed)
        if self._gateway and self._gateway[0] == key:
            return self._gateway[2], self._gateway[1].pid
        if self._gateway:
            self.procs.stop(self._gateway[1])
            self._gateway = None
        self._gateways_started += 1
        n = self._gateways_started
        data_dir = self.workdir / f"gateway-{n}"
        proc, port = self.start_gateway(f"gateway-{n}", data_dir, text)
        if scenario.seed is not None:
            seed = scenario.seed
            try:
                print(f"… seeding {seed.entries:,} cache entries", file=sys.stderr, flush=True)
                headers = scenario.gateway_headers(self.upstream_url)
                cache_seed.prime(port, seed, scenario.path, headers)
                self.procs.stop(proc)
                cache_seed.fill(data_dir, seed)
                proc, port = self.start_gateway(f"gateway-{n}-seeded", data_dir, text)
                cache_seed.wait_ready(port, seed)
            except (RuntimeError, OSError) as e:
                self.procs.stop(proc)
                raise procs.ProcError(f"seeding the cache failed: {e}") from None
        self._gateway = (key, proc, port)
        return port, proc.pid

    def start_gateway(
        self, name: str, data_dir: Path, settings: str, command: list[str] | None = None
    ) -> tuple[subprocess.Popen[bytes], int]:
        """``command`` (default: the run's gateway command) ``serve`` on a free port, with
        this checkout first on ``PYTHONPATH`` (a command that sets its own, e.g. through
        ``env PYTHONPATH=…``, runs another checkout)."""
        port = procs.free_port()
        argv = [
            *(command or self.opts.gateway),
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ]
        if settings:
            path = self.workdir / f"settings-{name}.toml"
            path.write_text(settings)
            argv += ["--settings", str(path)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        proc = self.procs.start(name, argv, cpu=self.cpu("gateway"), env=env, cwd=REPO)
        try:
            self.procs.wait_http(proc, port, timeout=30.0)
        except procs.ProcError:
            self.procs.stop(proc)
            raise
        return proc, port

    def targets(self, scenario: Scenario) -> list[Target]:
        out = []
        if scenario.direct:
            out.append(
                Target("direct", self.upstream_port, scenario.direct_headers(), self.upstream_pid)
            )
        try:
            port, pid = self.gateway(scenario)
        except procs.ProcError as e:
            out.append(Target("lockgate", 0, {}, 0, skip=f"gateway did not start: {e}"))
        else:
            out.append(Target("lockgate", port, scenario.gateway_headers(self.upstream_url), pid))
        return out

    def log_ab(self, on: Scenario, off: Scenario) -> dict[str, Any]:
        """`bench.ab` between a gateway with the request log (``on``'s settings) and one
        without (``off``'s), both running at once; ``on``'s request."""
        if self._gateway:
            self.procs.stop(self._gateway[1])
            self._gateway = None
        started = []
        try:
            sides = []
            for name, sc in (("log on", on), ("log off", off)):
                self._gateways_started += 1
                n = self._gateways_started
                proc, port = self.start_gateway(
                    f"gateway-{n}",
                    self.workdir / f"gateway-{n}",
                    sc.settings_text(self.upstream_url),
                )
                started.append(proc)
                sides.append(ab.Side(name, port, proc.pid))
            headers = on.gateway_headers(self.upstream_url)
            for side in sides:
                if problem := self.warm_up(on, side, headers):
                    return {"error": f"{side.name}: {problem}"}

            def drive(side: ab.Side) -> tuple[dict[str, Any], float]:
                target = Target(side.name, side.port, headers, side.pid)
                cpu0 = procs.cpu_seconds(side.pid)
                result = self.wrk(on, target, CONNECTIONS, self.opts.ab_seconds)
                # The turn ends when its log is written: rows still queued would be written
                # in the other side's turn, on its CPU.
                result = with_drain(result, drain_log(side.port))
                return result, procs.cpu_seconds(side.pid) - cpu0

            interleaved = ab.run(sides[0], sides[1], self.opts.ab_rounds, drive)
        except (procs.ProcError, RuntimeError) as e:
            return {"error": str(e)}
        finally:
            for proc in started:
                self.procs.stop(proc)
        pair = [
            GatewaySpec("log on", on.settings_text(self.upstream_url)),
            GatewaySpec("log off", off.settings_text(self.upstream_url)),
        ]
        interleaved["together"] = self.together_both_orders(
            on, pair, headers, 2 * self.opts.ab_rounds
        )
        return interleaved

    def together_both_orders(
        self, scenario: Scenario, pair: list[GatewaySpec], headers: dict[str, str], rounds: int
    ) -> dict[str, Any]:
        """`together` of two gateways started for it: half the rounds with the first started
        first, half the other way round, merged so the start order's bias cancels
        (`bench.ab.merged`). Both are stopped after each half."""
        parts = []
        for half, first in enumerate((0, 1)):
            n = (rounds + 1 - half) // 2
            if n == 0:
                continue
            running: dict[int, tuple[ab.Side, subprocess.Popen[bytes]]] = {}
            try:
                for i in (first, 1 - first):
                    spec = pair[i]
                    self._gateways_started += 1
                    label = f"gateway-{self._gateways_started}"
                    proc, port = self.start_gateway(
                        label, self.workdir / label, spec.settings, spec.command
                    )
                    side = ab.Side(spec.name, port, proc.pid)
                    running[i] = (side, proc)
                    if problem := self.warm_up(scenario, side, headers):
                        return {"error": f"{spec.name}: {problem}"}
                sides = [running[0][0], running[1][0]]
                parts.append(self.together(scenario, sides, headers, n))
            except (procs.ProcError, RuntimeError) as e:
                return {"error": str(e)}
            finally:
                for _, proc in running.values():
                    self.procs.stop(proc)
        return ab.merged(parts)

    def warm_up(self, scenario: Scenario, side: ab.Side, headers: dict[str, str]) -> str | None:
        """A checked probe request, then 1 s of load at 8 connections; why the side cannot be
        measured, or None."""
        problem = probe(side.port, scenario, headers, gateway=True)
        if problem is None:
            self.loadclient(scenario, Target(side.name, side.port, headers, side.pid), 8, 1.0)
        return problem

    def together(
        self, scenario: Scenario, sides: list[ab.Side], headers: dict[str, str], rounds: int
    ) -> dict[str, Any]:
        """`bench.ab.together` of two running gateways: ``rounds`` rounds in which both are
        loaded at once with ``scenario``'s request, each round lasting until both logs are
        written."""
        if not machine.autogroup():
            return {"error": ab.NO_AUTOGROUP}

        def drive_both(round_no: int) -> tuple[dict[str, Any], dict[str, Any]]:
            # Which side's load starts first, and whose log is checked first, alternates by
            # round, so neither gateway always gets the head start.
            order = [0, 1] if round_no % 2 == 0 else [1, 0]
            results: dict[int, dict[str, Any]] = {}
            with ThreadPoolExecutor(max_workers=2) as pool:
                runs = {
                    i: pool.submit(
                        self.wrk,
                        scenario,
                        Target(sides[i].name, sides[i].port, headers, sides[i].pid),
                        CONNECTIONS,
                        self.opts.ab_seconds,
                        f"together-{i}",
                    )
                    for i in order
                }
                for i in order:
                    results[i] = runs[i].result()
            for i in order:
                results[i] = with_drain(results[i], drain_log(sides[i].port))
            return results[0], results[1]

        return ab.together(sides[0], sides[1], rounds, drive_both)

    def cache_micro(self) -> dict[str, Any]:
        """`bench.cache_bench` on the gateway's CPU, its own process: embed p50 (the threads the
        gateway would pick there) and FAISS search p50 at 100k, flat and IVF."""
        argv = procs.pinned(
            [sys.executable, "-m", "bench.cache_bench", "--json"], self.cpu("gateway")
        )
        done = subprocess.run(
            argv, capture_output=True, text=True, cwd=REPO, timeout=300, check=False
        )
        if done.returncode != 0:
            return {"error": done.stderr[-2000:]}
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def loadclient(
        self, scenario: Scenario, target: Target, connections: int, seconds: float
    ) -> dict[str, Any]:
        spec = self.workdir / "loadclient.json"
        spec.write_text(
            json.dumps(
                {
                    "port": target.port,
                    "path": scenario.path,
                    "headers": target.headers,
                    "body": scenario.body.decode(),
                    "stream": scenario.stream,
                    "connections": connections,
                    "seconds": seconds,
                }
            )
        )
        argv = procs.pinned([sys.executable, "-m", "bench.loadclient", str(spec)], self.cpu("load"))
        done = subprocess.run(
            argv, capture_output=True, text=True, cwd=REPO, timeout=seconds + 30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"loadclient failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def wrk(
        self,
        scenario: Scenario,
        target: Target,
        connections: int,
        seconds: float,
        tag: str = "row",
    ) -> dict[str, Any]:
        url = f"http://{LOOPBACK}:{target.port}{scenario.path}"
        return wrk.run(
            url,
            scenario.body,
            target.headers,
            connections=connections,
            seconds=seconds,
            workdir=self.workdir,
            cpu=self.cpu("load"),
            tag=tag,
        )

    def measure(self, scenario: Scenario, target: Target) -> report.Row:
        row: report.Row = {
            "scenario": scenario.name,
            "target": target.name,
            "stream": scenario.stream,
            "baseline": scenario.baseline,
        }
        problem = target.skip or probe(
            target.port, scenario, target.headers, gateway=target.name != "direct"
        )
        if problem:
            row["skipped"] = problem
            return row
        s = self.opts
        warm = self.loadclient(scenario, target, 8, min(1.0, s.seconds / 5))
        drive = self.loadclient if scenario.stream else self.wrk
        cpu0 = procs.cpu_seconds(target.pid), procs.cpu_seconds(self.upstream_pid)
        runs = {"warmup": warm, "throughput": drive(scenario, target, CONNECTIONS, s.seconds)}
        if target.name != "direct":
            runs["throughput"] = with_drain(runs["throughput"], drain_log(target.port))
        cpu1 = procs.cpu_seconds(target.pid), procs.cpu_seconds(self.upstream_pid)
        # let the gateway finish what the 32 connections left queued (e.g. embeddings)
        time.sleep(1.0)
        semantic = scenario.seed is not None and target.name != "direct"
        if semantic:
            cache_seed.reset_timings(target.port)
        runs["latency"] = drive(scenario, target, 1, s.latency_seconds)
        if semantic:
            # what the gateway itself timed during the one-connection run
            st = cache_seed.stats(target.port)
            row["cache"] = {
                "embed_ms": st["embed_ms"],
                "search_ms": st["search_ms"],
                "semantic_vectors": st["semantic_vectors"],
                "semantic_index": st["semantic_index"],
                "semantic_hits": st["semantic_hits"],
            }
        if scenario.stream:
            runs["ttfb"] = runs["latency"]
        else:
            runs["ttfb"] = self.loadclient(scenario, target, 1, s.ttfb_seconds)
        done = runs["throughput"]["requests"] or 1
        row.update(
            rps=runs["throughput"]["rps"],
            p50_ms=runs["latency"]["p50_ms"],
            p99_ms=runs["latency"]["p99_ms"],
            ttfb_p50_ms=runs["ttfb"]["ttfb_p50_ms"],
            cpu_us_per_req=(cpu1[0] - cpu0[0]) / done * 1e6,
            upstream_cpu_us_per_req=(cpu1[1] - cpu0[1]) / done * 1e6,
            busy_pct=100 * (cpu1[0] - cpu0[0]) / (runs["throughput"]["seconds"] or 1),
            errors=sum(r["errors"] for k, r in runs.items() if k != "warmup"),
            runs=runs,
        )
        return row


def with_drain(result: dict[str, Any], drained_s: float) -> dict[str, Any]:
    """A throughput run whose log was written ``drained_s`` after its last answer: its req/s
    over the whole time, so a writer that trails the requests is not free."""
    secs = result["seconds"] + drained_s
    return {**result, "drain_s": drained_s, "rps": result["rps"] * result["seconds"] / secs}
