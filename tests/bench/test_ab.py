"""The interleaved A/B of two gateways (bench/ab.py)."""

from __future__ import annotations

from bench import ab


def test_ab_takes_turns_and_compares_medians():
    a, b = ab.Side("log on", 1, 11), ab.Side("log off", 2, 22)
    assert ab.order(2) == [0, 1, 1, 0, 0, 1, 1, 0]
    seen = []
    rps = {"log on": iter([90.0, 9000.0, 92.0, 91.0]), "log off": iter([100.0, 99.0, 1.0, 101.0])}

    def drive(side):
        seen.append(side.name)
        return {"rps": next(rps[side.name]), "requests": 1000}, 0.5

    out = ab.run(a, b, 2, drive)
    assert seen == ["log on", "log off", "log off", "log on"] * 2
    assert out["log on"]["rps"] == 91.5 and out["log off"]["rps"] == 99.5  # medians: outliers out
    assert round(out["rps_cost_pct"], 3) == round(100 * (1 - 91.5 / 99.5), 3)
    assert out["log on"]["cpu_us"] == 500.0 and out["cpu_cost_pct"] == 0.0
    text = ab.line(out, 3)
    assert (
        text is not None
        and "log on 92 vs off 100 req/s" in text
        and "4 turns of 3 s per side" in text
    )
    assert "not measured" in (ab.line({"error": "boom"}, 3) or "")
