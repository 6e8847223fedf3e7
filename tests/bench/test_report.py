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
