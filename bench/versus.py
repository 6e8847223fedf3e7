"""`python -m bench.versus`: two gateways compared on one shared core, to about a per cent.

For a change too small for the rows of `make bench` (a few µs per request): the two gateways
run at once on the gateway's CPU, each in a session of its own, and are loaded at the same
moment by one wrk each; the kernel splits the core per process (autogroup scheduling), and
each round's req/s ratio compares the two at the very same machine speed (`bench.ab.together`).
Run it with no arguments first: this checkout against itself shows the noise floor.

    python -m bench.versus                                       # A = B: the noise floor
    python -m bench.versus --b-settings off.toml --b-name 'log off'
    python -m bench.versus --b-gateway 'env PYTHONPATH=/path/to/main .venv/bin/lockgate'

A ``--*-gateway`` command gets ``serve --host --port --data-dir [--settings]`` appended, as
``BENCH_GATEWAY`` does for `make bench`; the run's fake upstream, pinning and ``BENCH_*``
environment are those of `bench.run`. Every process started is stopped by PID at exit.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from bench import ab, machine, procs, scenarios
from bench.harness import Bench, GatewaySpec
from bench.options import Options
from bench.procs import Procs


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__.split("\n")[0])
    for side in ("a", "b"):
        p.add_argument(f"--{side}-name", default=side.upper(), help="label in the report")
        p.add_argument(f"--{side}-settings", type=Path, help="TOML file for --settings")
        p.add_argument(f"--{side}-gateway", help="command that starts this gateway")
    p.add_argument("--scenario", default="chat", help="the request sent (bench.scenarios)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1:
        p.error("--rounds and --seconds must be at least 1")
    if args.a_name == args.b_name:
        args.a_name, args.b_name = f"{args.a_name} (A)", f"{args.b_name} (B)"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    scenario = next((s for s in scenarios.select("all") if s.name == args.scenario), None)
    if scenario is None or scenario.stream or scenario.seed is not None:
        print(f"--scenario: not a plain non-streaming scenario: {args.scenario}", file=sys.stderr)
        return 2
    if not machine.autogroup():
        print(f"cannot compare: {ab.NO_AUTOGROUP}", file=sys.stderr)
        return 2
    opts = Options.from_env(dict(os.environ))
    opts.ab_seconds = args.seconds
    workdir = Path(tempfile.mkdtemp(prefix="lockgate-versus-"))
    try:
        with Procs(workdir) as children:
            bench = Bench(opts, children, workdir)
            bench.start_upstream()
            headers = scenario.gateway_headers(bench.upstream_url)
            pair = []
            for key in ("a", "b"):
                settings: Path | None = getattr(args, f"{key}_settings")
                command: str | None = getattr(args, f"{key}_gateway")
                text = (
                    settings.read_text() if settings else scenario.settings_text(bench.upstream_url)
                )
                pair.append(
                    GatewaySpec(
                        getattr(args, f"{key}_name"),
                        text,
                        shlex.split(command) if command else None,
                    )
                )
            result = bench.together_both_orders(scenario, pair, headers, args.rounds)
    except procs.ProcError as e:
        print(f"the fake upstream did not start: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if "error" in result:
        print(f"not measured: {result['error']}", file=sys.stderr)
        return 1
    for i in range(result.get("rounds", 0)):
        a, b = result["rps"][result["a"]][i], result["rps"][result["b"]][i]
        ratio = a / b if b else 0.0
        print(f"round {i + 1}: {a:,.0f} vs {b:,.0f} req/s, ratio {ratio:.3f}")
    print(ab.together_line(result, args.seconds, title=f"{args.scenario}: A/B"))
    print(f"(rounds 1-{(args.rounds + 1) // 2}: A's gateway started first; the rest: B's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
