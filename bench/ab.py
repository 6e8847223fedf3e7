"""A/B throughput of two gateway settings, for a cost too small for one row pair.

The request log costs a few per cent of throughput, and on a shared machine two 5-second runs
taken a minute apart differ by more than that. Two ways of comparing, both on the gateway's CPU:

- ``run``, interleaved: both gateways run at once (both pinned to the gateway's CPU; only the
  one under load uses it) and take turns in an A B B A … order, a short wrk run each; the
  medians of the turns are compared. Drift over the run hits both alike, but a turn of 3 s
  still catches the machine at its own speed: on a busy host single turns of the same gateway
  ranged over ±20 %.
- ``together``, one core shared: both gateways are loaded at the same moment, each by its own
  wrk, and the kernel splits the core between the two processes (each runs in its own session,
  so autogroup scheduling gives each process, whatever its thread count, an equal share). Each
  round's req/s ratio compares the two on the very same machine speed, so the ratios of
  rounds spread over a few per cent only; the median ratio is reported with its quartiles.
  Caveat: each gateway also runs on caches the other one has just disturbed, so a cost that
  comes from disturbing caches shows less here than when a gateway has the core alone.

A turn lasts until its gateway's log is written (`probe.drain_log`): the log writer may trail
the requests, and what it writes after the turn would otherwise be charged to the other side.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Side:
    name: str
    port: int
    pid: int


Drive = Callable[[Side], tuple[dict[str, Any], float]]
"""Runs one turn against a side: (wrk's result, that side's CPU seconds during it)."""
NO_AUTOGROUP = (
    "needs the kernel's autogroup scheduling (kernel.sched_autogroup_enabled = 1), which splits "
    "the core per process; without it the gateway with the log thread would get a bigger share"
)
DriveBoth = Callable[[int], tuple[dict[str, Any], dict[str, Any]]]
"""Loads both sides at once for round ``i`` (from 0): (A's wrk result, B's)."""


def order(rounds: int) -> list[int]:
    """Which side (0 = A, 1 = B) takes each turn: A B B A, repeated ``rounds`` times."""
    return [0, 1, 1, 0] * rounds


def run(a: Side, b: Side, rounds: int, drive: Drive) -> dict[str, Any]:
    """``rounds`` × (A B B A) turns; per side: req/s and CPU µs per request of every turn and
    their medians; and the cost of A over B (``rps_cost_pct``: how many fewer req/s A
    serves; ``cpu_cost_pct``: how much more CPU a request takes on A)."""
    sides = (a, b)
    turns: dict[str, dict[str, list[float]]] = {s.name: {"rps": [], "cpu_us": []} for s in sides}
    for i in order(rounds):
        side = sides[i]
        result, cpu_s = drive(side)
        done = result["requests"] or 1
        turns[side.name]["rps"].append(result["rps"])
        turns[side.name]["cpu_us"].append(cpu_s / done * 1e6)
    out: dict[str, Any] = {"rounds": rounds, "turns": turns}
    for s in sides:
        out[s.name] = {
            "rps": statistics.median(turns[s.name]["rps"]),
            "cpu_us": statistics.median(turns[s.name]["cpu_us"]),
        }
    out["rps_cost_pct"] = 100 * (1 - out[a.name]["rps"] / out[b.name]["rps"])
    out["cpu_cost_pct"] = 100 * (out[a.name]["cpu_us"] / out[b.name]["cpu_us"] - 1)
    out["a"], out["b"] = a.name, b.name
    return out


def together(a: Side, b: Side, rounds: int, drive: DriveBoth) -> dict[str, Any]:
    """``rounds`` rounds of both sides loaded at once; per round A's req/s over B's. Returns
    every round's req/s and ratio, the median ratio with its quartiles, and the cost of A
    over B (``rps_cost_pct``: how many fewer req/s A serves, from the median ratio)."""
    rps: dict[str, list[float]] = {a.name: [], b.name: []}
    for i in range(rounds):
        ra, rb = drive(i)
        rps[a.name].append(ra["rps"])
        rps[b.name].append(rb["rps"])
    return summary(a.name, b.name, rps)


def summary(
    a: str, b: str, rps: dict[str, list[float]], ratios: list[float] | None = None
) -> dict[str, Any]:
    """The shared-core result of rounds whose req/s are ``rps`` (by side name, round by
    round): `together`'s shape. ``ratios``: the rounds' ratios when not simply A's req/s
    over B's (`merged` corrects them)."""
    if ratios is None:
        ratios = [x / y if y else 0.0 for x, y in zip(rps[a], rps[b], strict=True)]
    rounds = len(ratios)
    ratio = statistics.median(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratio,) * 3
    return {
        "rounds": rounds,
        "a": a,
        "b": b,
        "rps": rps,
        "ratios": ratios,
        "ratio": ratio,
        "ratio_quartiles": [q1, q3],
        "rps_cost_pct": 100 * (1 - ratio),
    }


def merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from two `together` runs of the same sides, one with A's gateway started
    first and one with B's. Which process starts first is a steady bias of its own (the one
    started first served 1.5-3 % less, A against an identical B, 2026-12-02), so each run's
    ratios are scaled by its bias: the ratio is the geometric mean of the runs' medians,
    which the bias cancels out of, and the quartiles are those of the scaled rounds.
    ``start_bias``: how much less the first-started gateway served."""
    for part in parts:
        if "error" in part:
            return part
    a, b = parts[0]["a"], parts[0]["b"]
    rps = {n: [x for p in parts for x in p["rps"][n]] for n in (a, b)}
    if len(parts) != 2:
        return summary(a, b, rps)
    medians = [statistics.median(p["ratios"]) for p in parts]
    ratio = math.sqrt(medians[0] * medians[1])
    scaled = [r * ratio / m for p, m in zip(parts, medians, strict=True) for r in p["ratios"]]
    out = summary(a, b, rps, scaled)
    out["start_bias"] = 1 - math.sqrt(medians[0] / medians[1])
    return out


def together_line(
    result: dict[str, Any] | None, seconds: float, title: str = "request log A/B"
) -> str | None:
    """One line for the printed report (`together`)."""
    if not result:
        return None
    if "error" in result:
        return f"{title}, one core shared: not measured ({result['error']})"
    q1, q3 = result["ratio_quartiles"]
    text = (
        f"{title}, one core shared ({result['rounds']} rounds of {seconds:g} s, both "
        f"loaded at once, median of the rounds' ratios): {result['a']} serves "
        f"{result['ratio']:.3f} of {result['b']}'s req/s = {result['rps_cost_pct']:.1f} % "
        f"fewer (quartiles {100 * (1 - q3):.1f} to {100 * (1 - q1):.1f} %)"
    )
    if "start_bias" in result:
        text += (
            "; each gateway started first for half the rounds, the first-started serving "
            f"{100 * result['start_bias']:.1f} % less (corrected for)"
        )
    return text


def line(result: dict[str, Any] | None, seconds: float) -> str | None:
    """One line for the printed report."""
    if not result:
        return None
    if "error" in result:
        return f"request log A/B: not measured ({result['error']})"
    a, b = result[result["a"]], result[result["b"]]
    return (
        f"request log A/B ({result['rounds'] * 2} turns of {seconds:g} s per side, interleaved, "
        f"medians): log on {a['rps']:,.0f} vs off {b['rps']:,.0f} req/s = "
        f"{result['rps_cost_pct']:.1f} % fewer; CPU/req {a['cpu_us']:.0f} vs "
        f"{b['cpu_us']:.0f} µs = {result['cpu_cost_pct']:+.1f} %"
    )
