"""The bench report's derived figures."""

from __future__ import annotations

from bench import report


def _row(scenario: str, rps: float, cpu: float, target: str = "lockgate") -> dict:
    return {"scenario": scenario, "target": target, "rps": rps, "cpu_us_per_req": cpu}


def test_logging_cost_compares_chat_with_log_off():
    rows = [
        _row("chat", 100.0, 0, "direct"),
        _row("chat", 900.0, 550.0),
        _row("log-off", 1000.0, 500.0),
    ]
    cost = report.logging_cost(rows)
    assert cost is not None
    assert round(cost["rps_cost_pct"], 6) == 10.0 and round(cost["cpu_cost_pct"], 6) == 10.0
    line = report.logging_line(cost)
    assert line is not None and "900 vs 1,000 req/s = 10.0 % fewer" in line and "+10.0 %" in line


def test_no_logging_cost_without_both_rows():
    assert report.logging_cost([_row("chat", 900.0, 550.0)]) is None
    skipped = {**_row("log-off", 1000.0, 500.0), "skipped": "no"}
    assert report.logging_cost([_row("chat", 900.0, 550.0), skipped]) is None
    assert report.logging_line(None) is None


def test_ab_takes_turns_and_compares_medians():
    from bench import ab

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
