"""``fallback``: try targets in order until one answers acceptably.

Move on when the answer is not 2xx, or, when ``strategy.on_status_codes`` is set, only when the
status is in that list (any other answer, error or not, is returned as is). A reply marked as a
gateway-side failure (bad target config) stops the walk. All failing: the last answer is returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strategies.base import RunTarget, child_path, is_success

if TYPE_CHECKING:
    from proxy.chain import Call, Reply
    from proxy.config import Target


async def fallback(call: Call, node: Target, path: str, run: RunTarget) -> Reply:
    assert node.targets and node.strategy
    codes = node.strategy.on_status_codes
    reply: Reply | None = None
    for i, target in enumerate(node.targets):
        if reply is not None:
            await discard(reply)
        reply = await run(call, target, child_path(path, i))
        failed = reply.status in codes if codes else not is_success(reply.status)
        if not failed:
            return reply
    assert reply is not None
    return reply


async def discard(reply: Reply) -> None:
    """Free the connection behind an answer that will not be relayed."""
    if reply.upstream is not None:
        reply.upstream.close()
