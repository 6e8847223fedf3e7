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


def test_together_compares_each_round_of_both_at_once():
    a, b = ab.Side("log on", 1, 11), ab.Side("log off", 2, 22)
    rounds = [(90.0, 100.0), (45.0, 50.0), (99.0, 100.0), (10.0, 5.0)]
    seen = []

    def drive(i):
        seen.append(i)
        ra, rb = rounds[i]
        return {"rps": ra}, {"rps": rb}

    out = ab.together(a, b, 4, drive)
    assert seen == [0, 1, 2, 3]
    assert out["rps"] == {"log on": [90.0, 45.0, 99.0, 10.0], "log off": [100.0, 50.0, 100.0, 5.0]}
    assert out["ratios"] == [0.9, 0.9, 0.99, 2.0]
    # The median of the rounds' ratios, not a ratio of medians: a slow round counts as a pair.
    assert round(out["ratio"], 9) == 0.945 and round(out["rps_cost_pct"], 3) == 5.5
    q1, q3 = out["ratio_quartiles"]
    assert q1 <= out["ratio"] <= q3
    text = ab.together_line(out, 3)
    assert text is not None and "4 rounds of 3 s" in text and "5.5 % fewer" in text
    assert "not measured" in (ab.together_line({"error": ab.NO_AUTOGROUP}, 3) or "")
    assert ab.together_line(None, 3) is None


def test_together_with_one_round_has_no_spread():
    side = ab.Side("x", 1, 1)
    out = ab.together(side, ab.Side("y", 2, 2), 1, lambda i: ({"rps": 80.0}, {"rps": 100.0}))
    assert out["ratio"] == 0.8 and out["ratio_quartiles"] == [0.8, 0.8]


def test_merged_runs_cancel_the_bias_of_which_gateway_started_first():
    from bench import ab

    def part(rps_a, rps_b):
        return ab.summary("A", "B", {"A": rps_a, "B": rps_b})

    # A is 1 % slower than B; whichever started first loses another 2 %.
    first = part([0.98 * 0.99 * x for x in (100, 110, 90)], [100, 110, 90])
    second = part([0.99 * x for x in (100, 110, 90)], [0.98 * x for x in (100, 110, 90)])
    out = ab.merged([first, second])
    assert abs(out["ratio"] - 0.99) < 1e-3
    assert abs(out["start_bias"] - 0.02) < 1e-9
    assert out["rounds"] == 6 and len(out["rps"]["A"]) == 6
    assert out["ratio_quartiles"][0] <= out["ratio"] <= out["ratio_quartiles"][1]
    assert ab.merged([first, {"error": "no autogroup"}]) == {"error": "no autogroup"}
