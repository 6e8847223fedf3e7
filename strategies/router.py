"""Runs a resolved config tree: strategy nodes pick children, leaves are retried attempts.

This is the innermost link of the chain: ``cache → router (strategy → retry → timeout →
provider call)``. Timeouts live in the attempt itself (`proxy.upstream.attempt`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from proxy.upstream import attempt
from strategies import STRATEGIES
from strategies.retry import with_retries

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from proxy.chain import Call, Next, Reply
    from proxy.config import Target
    from proxy.services import Services

    Leaf = Callable[[Services, Call, Target, str], Awaitable[Reply]]


def make_router(services: Services, leaf: Leaf = attempt) -> Next:
    """The router over ``leaf``, one upstream try: an HTTP `attempt`, or a WebSocket
    handshake (`proxy.realtime.open_upstream`)."""
    once = functools.partial(leaf, services)

    async def run(call: Call, node: Target, path: str) -> Reply:
        if node.is_leaf:
            return await with_retries(call, node, path, once, services.settings)
        mode = node.strategy.mode if node.strategy else "single"
        return await STRATEGIES[mode](call, node, path, run)

    async def route(call: Call) -> Reply:
        node = call.config
        if node.is_leaf and (node.retry is None or node.retry.attempts == 0):
            # The common case, one provider and nothing to retry: what `run` and `with_retries`
            # would end up doing, minus two coroutine frames per request.
            return await leaf(services, call, node, "config")
        return await run(call, node, "config")

    return route
