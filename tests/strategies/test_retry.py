"""Retry decisions and the x-portkey-retry-attempt-count value (no sockets)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from strategies.retry import backoff_ms, retry_after_ms
from tests.fakes.playbook import SETTINGS, Playbook, make_call, reply, timeout_reply

C = "config"


def leaf(**retry):
    cfg = {"provider": "openai", "api_key": "sk-a"}
    if retry:
        cfg["retry"] = retry
    return cfg


async def test_no_retry_configured_means_one_call_and_count_0():
    book = Playbook({C: [503]})
    r = await book.route(leaf())
    assert book.asked == [C] and (r.status, r.retries) == (503, 0)


async def test_count_is_retries_made_when_one_succeeds():
    book = Playbook({C: [503, 500, 200]})
    r = await book.route(leaf(attempts=3))
    assert len(book.asked) == 3 and (r.status, r.retries) == (200, 2)


async def test_first_call_final_counts_0():
    for status in (200, 400):
        book = Playbook({C: [status]})
        r = await book.route(leaf(attempts=3))
        assert len(book.asked) == 1 and r.retries == 0


async def test_exhausted_is_minus_1_after_attempts_plus_1_calls():
    book = Playbook({C: [503] * 10})
    r = await book.route(leaf(attempts=2))
    assert len(book.asked) == 3 and (r.status, r.retries) == (503, -1)


async def test_last_try_with_a_final_status_counts_all_retries():
    book = Playbook({C: [503, 503, 400]})
    r = await book.route(leaf(attempts=2))
    assert (r.status, r.retries) == (400, 2)


async def test_attempts_are_clamped_to_5():
    book = Playbook({C: [500] * 20})
    r = await book.route(leaf(attempts=50))
    assert len(book.asked) == 6 and r.retries == -1


async def test_default_statuses():
    for status in (429, 500, 502, 503, 504):
        book = Playbook({C: [status]})
        assert (await book.route(leaf(attempts=1))).status == 200, status
    for status in (400, 401, 404, 409, 422, 501):
        book = Playbook({C: [status]})
        assert (await book.route(leaf(attempts=1))).status == status, status


async def test_on_status_codes_replace_the_defaults():
    book = Playbook({C: [409, 200]})
    assert (await book.route(leaf(attempts=1, on_status_codes=[409]))).status == 200
    book = Playbook({C: [500, 200]})
    r = await book.route(leaf(attempts=1, on_status_codes=[409]))
    assert (r.status, len(book.asked)) == (500, 1)


async def test_gateway_timeout_is_retried_by_default_upstream_408_is_not():
    book = Playbook({C: [timeout_reply(), 200]})
    r = await book.route(leaf(attempts=1))
    assert (r.status, r.retries) == (200, 1)
    book = Playbook({C: [408]})  # an upstream's own 408 answer
    r = await book.route(leaf(attempts=1))
    assert (r.status, len(book.asked)) == (408, 1)
    book = Playbook({C: [timeout_reply()]})  # an explicit list is followed exactly
    r = await book.route(leaf(attempts=1, on_status_codes=[429]))
    assert (r.status, len(book.asked)) == (408, 1)
    book = Playbook({C: [timeout_reply(), timeout_reply()]})
    r = await book.route(leaf(attempts=1, on_status_codes=[408]))
    assert (r.status, r.retries) == (408, -1)


async def test_backoff_grows_and_is_jittered_within_bounds():
    book = Playbook({C: [503] * 6})
    await book.route(leaf(attempts=5))
    base = SETTINGS.retry_backoff_ms
    for n, waited in enumerate(book.slept):
        ceiling = min(base * 2**n, SETTINGS.retry_backoff_max_ms)
        assert ceiling / 2 <= waited <= ceiling, (n, waited)
    rnd = random.Random(7)
    draws = {round(backoff_ms(3, SETTINGS, rnd), 6) for _ in range(50)}
    assert len(draws) > 40  # jittered, not a constant


async def test_retry_after_replaces_the_backoff():
    asked_429 = reply(429, [("Retry-After", "0.3")])
    book = Playbook({C: [asked_429, 200]})
    r = await book.route(leaf(attempts=2))
    assert book.slept == [300.0] and r.retries == 1


async def test_retry_after_ms_headers_win_over_seconds():
    r = reply(429, [("retry-after", "9"), ("x-ms-retry-after-ms", "40"), ("retry-after-ms", "25")])
    assert retry_after_ms(r.headers) == 25.0
    assert retry_after_ms([("x-ms-retry-after-ms", "40"), ("retry-after", "9")]) == 40.0
    assert retry_after_ms([("Retry-After", "2")]) == 2000.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28_000 < retry_after_ms([("retry-after", soon)]) <= 30_000  # type: ignore[operator]
    assert retry_after_ms([("retry-after", "whenever")]) is None
    assert retry_after_ms([("retry-after", "-5")]) == 0.0


async def test_retry_after_beyond_the_cap_stops_at_once():
    book = Playbook({C: [reply(429, [("Retry-After", "5")])]})  # cap is 1000 ms
    r = await book.route(leaf(attempts=3))
    assert book.asked == [C] and book.slept == [] and (r.status, r.retries) == (429, -1)


async def test_retry_after_cap_is_per_request_over_every_target():
    wait = [("retry-after-ms", "600")]
    cfg = {
        "strategy": {"mode": "fallback"},
        "retry": {"attempts": 1},
        "targets": [{"provider": "openai"}, {"provider": "groq"}],
    }
    script = {
        "config.targets[0]": [reply(429, wait), reply(429, wait)],
        "config.targets[1]": [reply(429, wait), 200],
    }
    book = Playbook(script)
    call = make_call()
    r = await book.route(cfg, call)
    # 600 ms honoured once; the second ask would pass the 1000 ms cap, so targets[1] stops at once
    assert book.slept == [600.0] and call.retry_after_waited_ms == 600.0
    assert book.asked == ["config.targets[0]"] * 2 + ["config.targets[1]"]
    assert (r.status, r.retries) == (429, -1)


async def test_retry_after_ignored_when_switched_off():
    book = Playbook({C: [reply(429, [("Retry-After", "5")]), 200]})
    r = await book.route(leaf(attempts=1, use_retry_after_header=False))
    assert r.status == 200 and book.slept[0] <= SETTINGS.retry_backoff_ms


async def test_legacy_plural_spelling_is_accepted():
    book = Playbook({C: [reply(429, [("Retry-After", "5")]), 200]})
    r = await book.route(leaf(attempts=1, use_retry_after_headers=False))
    assert r.status == 200
