"""`proxy.deadlines.bound` behaves like `asyncio.timeout` on one shared timer."""

from __future__ import annotations

import asyncio
import time

import pytest

from proxy import deadlines
from proxy.deadlines import bound
from proxy.tasks import spawn


async def test_an_expired_bound_raises_timeout_error_on_time():
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        with bound(0.05):
            await asyncio.sleep(5)
    assert 0.045 <= time.perf_counter() - t0 < 0.5


async def test_a_block_that_finishes_in_time_is_not_cancelled_later():
    with bound(0.05):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # past the deadline: nothing may cancel the task now


async def test_an_outside_cancellation_stays_a_cancellation():
    async def slow() -> None:
        with bound(5):
            await asyncio.sleep(5)

    task = spawn(slow(), name="slow")
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_mixed_durations_each_expire_at_their_own_deadline():
    async def one(limit: float, work: float) -> str:
        try:
            with bound(limit):
                await asyncio.sleep(work)
        except TimeoutError:
            return "timeout"
        return "done"

    # A long bound made first must not delay a shorter one made after it.
    cases = [(10.0, 0.01), (0.05, 0.5), (0.3, 0.01), (0.05, 0.01), (0.1, 0.5), (10.0, 0.2)]
    t0 = time.perf_counter()
    got = await asyncio.gather(*(one(limit, work) for limit, work in cases))
    assert got == ["done", "timeout", "done", "done", "timeout", "done"]
    assert time.perf_counter() - t0 < 1.0


async def test_finished_bounds_are_swept_from_a_long_queue():
    for _ in range(5000):
        with bound(60):
            pass
    clock = deadlines._clock
    assert clock is not None and len(clock.queues[60]) <= 2 * deadlines._SWEEP_AT


async def test_a_finished_bound_keeps_no_task_alive():
    b = bound(60)
    with b:
        pass
    assert b._task is None
