"""The machine a run was made on, written beside its figures (figures mean nothing without it)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.split("[", 1)[0].strip() or None


def cpu_ticks() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0]
    except OSError:
        return []
    return [int(x) for x in first.split()[1:9]]


def noise(before: list[int], after: list[int]) -> dict[str, float]:
    """How much of the run's CPU time the hypervisor took (steal) or sat idle, in percent.

    High steal means a neighbour used the host: figures of that run are noisier than usual.
    """
    if len(before) < 8 or len(after) < 8:
        return {}
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    return {
        "steal_pct": round(100 * delta[7] / total, 2),
        "idle_pct": round(100 * delta[3] / total, 1),
    }


def spec() -> dict[str, object]:
    """nproc, CPU model, kernel, Python and the versions of the libraries on the hot path."""
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "libs": {name: _version(name) for name in ("aiohttp", "uvloop", "msgspec", "lockgate")},
        "wrk": _wrk_version(),
        "loadavg_at_start": _loadavg(),
        "autogroup": autogroup(),
    }


def autogroup() -> bool:
    """Whether the scheduler groups tasks by session (``kernel.sched_autogroup_enabled``): then
    two gateways in sessions of their own split a shared core per process, not per thread."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def _loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []
