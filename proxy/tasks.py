"""Background tasks that are named and kept.

A task created with a bare ``create_task`` and not referenced can be garbage-collected while it
runs; the log writer, the cache's writer and sweeper must not vanish that way. `spawn` names the
task (so it shows in ``asyncio.all_tasks()`` dumps), holds a reference until it is done, and logs
a failure instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("lockgate")

_running: set[asyncio.Task[Any]] = set()


def _done(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


def spawn(coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
    """Run ``coro`` in the background under ``name``; failures are logged, never lost."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_done)
    return task
