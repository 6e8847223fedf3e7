"""Deadlines for upstream attempts on one shared loop timer, instead of one timer per attempt.

``with bound(seconds):`` behaves like ``async with asyncio.timeout(seconds):`` — when the time is
up the task is cancelled and the block raises `TimeoutError` — but an `asyncio.timeout` costs a
timer handle scheduled and cancelled per request, which on the gateway's hot path is a measurable
share of the CPU. Here each bound is a small record appended to a FIFO per duration (bounds of
one duration expire in the order they were made), and a single timer wakes for the earliest
pending bound. A bound that finishes is only marked done; dead records are dropped when the timer
wakes, or in a sweep once a queue grows long, so the common case does no timer work at all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from math import inf

_PENDING, _FIRED, _DONE = 0, 1, 2
_SLACK_S = 0.0005
"""Bounds due within this margin expire on a wake: float rounding, and uvloop's timers count whole
milliseconds (so do `asyncio.timeout`'s there)."""
_SWEEP_AT = 1024
"""A queue longer than this (and twice its length after the last sweep) drops its done records."""


class Bound:
    """One ``with bound(seconds):`` block; a sync context manager, usable in coroutines."""

    __slots__ = ("_cancelling", "_state", "_task", "when")

    def __init__(self, when: float, task: asyncio.Task[object]) -> None:
        self.when = when
        self._task: asyncio.Task[object] | None = task
        self._state = _PENDING
        self._cancelling = task.cancelling()

    def __enter__(self) -> Bound:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        fired = self._state == _FIRED
        self._state = _DONE
        task = self._task
        self._task = None  # a done record may wait in its queue a while: keep no task alive
        # As asyncio.timeout does: the cancellation was ours unless the task is being cancelled
        # for another reason too, in which case CancelledError goes on.
        if (
            fired
            and task is not None
            and task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc  # type: ignore[misc]

    def _expire(self) -> None:
        if self._state == _PENDING and self._task is not None:
            self._state = _FIRED
            self._task.cancel()


class _Clock:
    """The bounds of one event loop and the one timer that expires them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queues: dict[float, deque[Bound]] = {}
        self.swept: dict[float, int] = {}
        self.wake = inf
        self.handle: asyncio.TimerHandle | None = None

    def add(self, seconds: float) -> Bound:
        task = asyncio.current_task(self.loop)
        if task is None:
            raise RuntimeError("bound() must be used inside a task")
        b = Bound(self.loop.time() + seconds, task)
        q = self.queues.get(seconds)
        if q is None:
            q = self.queues[seconds] = deque()
        q.append(b)
        if len(q) > _SWEEP_AT and len(q) > 2 * self.swept.get(seconds, 0):
            live = [x for x in q if x._state != _DONE]
            q.clear()
            q.extend(live)
            self.swept[seconds] = len(q)
        if b.when < self.wake:
            self._schedule(b.when)
        return b

    def _schedule(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.wake = when
        self.handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.handle = None
        self.wake = inf
        due = self.loop.time() + _SLACK_S
        earliest = inf
        for seconds, q in list(self.queues.items()):
            while q and (q[0]._state != _PENDING or q[0].when <= due):
                q.popleft()._expire()
            if q:
                earliest = min(earliest, q[0].when)
            else:
                del self.queues[seconds]
                self.swept.pop(seconds, None)
        if earliest < inf:
            self._schedule(earliest)


_clock: _Clock | None = None


def bound(seconds: float) -> Bound:
    """A deadline ``seconds`` from now for the current task (see the module docstring)."""
    global _clock
    loop = asyncio.get_running_loop()
    if _clock is None or _clock.loop is not loop:
        _clock = _Clock(loop)
    return _clock.add(seconds)
