"""The arguments of ``python -m bench.versus`` (the benchmark itself is not a unit test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import versus


def test_defaults_compare_the_checkout_with_itself_under_distinct_names():
    args = versus.parse([])
    assert (args.a_name, args.b_name) == ("A", "B")
    assert args.a_gateway is None and args.b_settings is None
    assert (args.scenario, args.rounds, args.seconds) == ("chat", 8, 3.0)
    same = versus.parse(["--a-name", "x", "--b-name", "x"])
    assert same.a_name != same.b_name


def test_sides_take_their_own_settings_and_command():
    args = versus.parse(
        ["--b-settings", "off.toml", "--b-gateway", "env PYTHONPATH=/x lockgate", "--rounds", "3"]
    )
    assert args.b_settings == Path("off.toml") and args.a_settings is None
    assert args.b_gateway == "env PYTHONPATH=/x lockgate" and args.rounds == 3


@pytest.mark.parametrize("bad", [["--rounds", "0"], ["--seconds", "0.5"]])
def test_too_short_a_run_is_refused(bad, capsys):
    with pytest.raises(SystemExit) as e:
        versus.parse(bad)
    assert e.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_an_unknown_or_streaming_scenario_is_refused(capsys):
    assert versus.main(["--scenario", "no-such-row"]) == 2
    assert "not a plain non-streaming scenario" in capsys.readouterr().err
