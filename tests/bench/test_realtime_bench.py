"""``python -m bench.realtime``: its arguments, and its client against the bench upstream's echo
(a few frames, to show the code works; the figures come from running the benchmark)."""

from __future__ import annotations

import pytest

from bench import realtime, upstream


def test_defaults_and_refusals(capsys):
    args = realtime.parse([])
    assert (args.frames, args.window, args.json) == (2000, 32, False)
    for bad in (["--frames", "5"], ["--window", "0"]):
        with pytest.raises(SystemExit) as e:
            realtime.parse(bad)
        assert e.value.code == 2
    assert "at least" in capsys.readouterr().err


async def test_session_round_trips_and_streams_frames_through_the_echo():
    runner, port = await upstream.start()
    try:
        got = await realtime._session(f"ws://127.0.0.1:{port}/v1/realtime", {}, 10, 4)
    finally:
        await runner.cleanup()
    assert got["rtt_p50_us"] > 0 and got["rtt_p99_us"] >= got["rtt_p50_us"]
    assert got["frames_per_s"] > 0
