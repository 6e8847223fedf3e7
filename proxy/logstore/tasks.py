"""Background tasks that are named and kept (a bare ``asyncio.create_task`` may be collected
mid-flight; ruff bans it). Mirrors the gateway-wide helper; kept here so the log store does
not depend on the core's module layout."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_live: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _live.add(task)
    task.add_done_callback(_live.discard)
    return task
