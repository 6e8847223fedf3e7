"""Fallback decisions: scripted statuses in, the next target out (no sockets)."""

from __future__ import annotations

from tests.fakes.playbook import Closable, Playbook, reply, timeout_reply

T0, T1, T2 = "config.targets[0]", "config.targets[1]", "config.targets[2]"


def fallback(*targets, **strategy):
    return {"strategy": {"mode": "fallback", **strategy}, "targets": list(targets)}


OPENAI = {"provider": "openai", "api_key": "sk-a"}
GROQ = {"provider": "groq", "api_key": "gsk-b"}
ANTHROPIC = {"provider": "anthropic", "api_key": "sk-ant-c"}


async def test_moves_on_after_non_2xx_and_stops_at_first_success():
    book = Playbook({T0: [503], T1: [200]})
    r = await book.route(fallback(OPENAI, GROQ, ANTHROPIC))
    assert book.asked == [T0, T1]
    assert (r.status, r.target_path, r.provider) == (200, T1, "groq")


async def test_first_success_asks_nobody_else():
    book = Playbook()
    r = await book.route(fallback(OPENAI, GROQ))
    assert book.asked == [T0] and r.status == 200


async def test_all_failing_returns_the_last_answer_as_is():
    last = reply(429, [("retry-after", "7")])
    book = Playbook({T0: [500], T1: [502], T2: [last]})
    r = await book.route(fallback(OPENAI, GROQ, ANTHROPIC))
    assert book.asked == [T0, T1, T2]
    assert r is last and r.target_path == T2


async def test_strategy_on_status_codes_limits_when_to_move_on():
    book = Playbook({T0: [500]})
    r = await book.route(fallback(OPENAI, GROQ, on_status_codes=[429]))
    assert book.asked == [T0] and r.status == 500
    book = Playbook({T0: [429]})
    r = await book.route(fallback(OPENAI, GROQ, on_status_codes=[429]))
    assert book.asked == [T0, T1] and r.status == 200


async def test_on_status_codes_can_even_move_on_after_a_2xx():
    book = Playbook({T0: [201]})
    r = await book.route(fallback(OPENAI, GROQ, on_status_codes=[201]))
    assert book.asked == [T0, T1] and r.status == 200


async def test_target_level_on_status_codes_replace_the_strategys_for_that_target():
    first = {**OPENAI, "on_status_codes": [400]}
    book = Playbook({T0: [400], T1: [400]})
    r = await book.route(fallback(first, GROQ, ANTHROPIC, on_status_codes=[429]))
    # targets[0] moves on for 400 (its own list); targets[1] follows the strategy's [429]
    assert book.asked == [T0, T1] and r.status == 400 and r.target_path == T1


async def test_gateway_failures_are_failures():
    for failure in (reply(502, error="unreachable"), reply(504, error="silent"), timeout_reply()):
        book = Playbook({T0: [failure]})
        r = await book.route(fallback(OPENAI, GROQ))
        assert book.asked == [T0, T1] and r.status == 200, failure.status


async def test_abandoned_answers_are_closed():
    up = Closable()
    failed = reply(503)
    failed.upstream = up  # type: ignore[assignment]
    book = Playbook({T0: [failed]})
    await book.route(fallback(OPENAI, GROQ))
    assert up.closed == 1


async def test_nested_strategies_report_the_full_path():
    inner = {"strategy": {"mode": "fallback"}, "targets": [GROQ, ANTHROPIC]}
    book = Playbook({T0: [500], "config.targets[1].targets[0]": [503]})
    r = await book.route(fallback(OPENAI, inner))
    assert book.asked == [T0, "config.targets[1].targets[0]", "config.targets[1].targets[1]"]
    assert r.target_path == "config.targets[1].targets[1]" and r.provider == "anthropic"


async def test_each_target_retries_before_the_walk_moves_on():
    cfg = fallback({**OPENAI, "retry": {"attempts": 2}}, GROQ)
    book = Playbook({T0: [503, 503, 503]})
    r = await book.route(cfg)
    assert book.asked == [T0, T0, T0, T1]
    assert r.status == 200 and r.retries == 0


async def test_single_uses_the_first_target_only():
    book = Playbook({T0: [500]})
    r = await book.route({"strategy": {"mode": "single"}, "targets": [OPENAI, GROQ]})
    assert book.asked == [T0] and r.status == 500
