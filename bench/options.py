"""What one bench run is asked to do: the ``BENCH_*`` environment, read once (see `bench.run`)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, scenarios
from bench.scenarios import Scenario


@dataclass
class Options:
    seconds: float = 5.0
    chunks: int = 20
    scenarios: list[Scenario] = field(default_factory=list)
    gateway: list[str] = field(default_factory=list)
    pin: bool = True
    ab_rounds: int = 5
    ab_seconds: float = 3.0

    @property
    def latency_seconds(self) -> float:
        return float(max(1, round(self.seconds * 0.6)))

    @property
    def ttfb_seconds(self) -> float:
        return max(1.0, self.seconds * 0.4)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Options:
        return cls(
            seconds=float(env.get("BENCH_SECONDS") or 5),
            chunks=int(env.get("BENCH_CHUNKS") or 20),
            scenarios=scenarios.select(env.get("BENCH_SCENARIOS")),
            gateway=gateway_command(env),
            pin=procs.can_pin(),
            ab_rounds=int(env.get("BENCH_AB_ROUNDS") or 5),
            ab_seconds=float(env.get("BENCH_AB_SECONDS") or 3),
        )


def gateway_command(env: dict[str, str]) -> list[str]:
    """``BENCH_GATEWAY``, else the ``lockgate`` script beside this Python, else its module."""
    if env.get("BENCH_GATEWAY"):
        return shlex.split(env["BENCH_GATEWAY"])
    script = Path(sys.executable).parent / "lockgate"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from proxy.cli import main; sys.exit(main())"]
