"""``fallback``: try targets in order until one answers acceptably.

Move on when the answer is not 2xx, or, when ``on_status_codes`` is set, only when the status is
in that list (any other answer, error or not, is returned as is). The list is the target's own
``on_status_codes`` if it has one, else ``strategy.on_status_codes``. The gateway's own answers
for an unreachable or silent upstream (502, 504) and an expired ``request_timeout`` (408) are
failures like any other. A gateway-side error (bad target config, conditional that matches
nothing) raises and so stops the walk. All failing: the last answer is returned, as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strategies.base import RunTarget, child_path, is_success

if TYPE_CHECKING:
    from proxy.chain import Call, Reply
    from proxy.config import Target


async def fallback(call: Call, node: Target, path: str, run: RunTarget) -> Reply:
    assert node.targets and node.strategy
    reply: Reply | None = None
    for i, target in enumerate(node.targets):
        if reply is not None:
            await discard(reply)
        reply = await run(call, target, child_path(path, i))
        if not should_move_on(
            reply.status, target.on_status_codes or node.strategy.on_status_codes
        ):
            return reply
    assert reply is not None
    return reply


def should_move_on(status: int, codes: list[int] | None) -> bool:
    return status in codes if codes else not is_success(status)


async def discard(reply: Reply) -> None:
    """Free the connection behind an answer that will not be relayed."""
    if reply.upstream is not None:
        reply.upstream.close()
