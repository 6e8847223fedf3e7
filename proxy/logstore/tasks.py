"""Background tasks that are named and kept (a bare ``asyncio.create_task`` may be collected
mid-flight; ruff bans it). Mirrors the gateway-wide helper; kept here so the log store does
not depend on the core's module layout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

_live: set[asyncio.Task[Any]] = set()
log = logging.getLogger("lockgate.tasks")


def _done(task: asyncio.Task[Any]) -> None:
    _live.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s died", task.get_name(), exc_info=task.exception())


def spawn(coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _live.add(task)
    task.add_done_callback(_done)
    return task
