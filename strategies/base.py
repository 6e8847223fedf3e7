"""The one interface every routing strategy implements.

A strategy gets a node of the config tree (a `Target` with ``strategy`` and ``targets``) and a
``run`` callback that executes any child (a leaf call with its retries, or a nested strategy),
and returns the `Reply` to hand on. Strategies decide on status only: every ``run`` returns a
Reply whose status and headers are known and nothing has been written to the client yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from proxy.chain import Call, Reply
    from proxy.config import Target

RunTarget = Callable[["Call", "Target", str], Awaitable["Reply"]]


class Strategy(Protocol):
    async def __call__(self, call: Call, node: Target, path: str, run: RunTarget) -> Reply: ...


def is_success(status: int) -> bool:
    return 200 <= status < 300


def is_gateway_timeout(reply: Reply) -> bool:
    """The gateway's own 408 for an expired ``request_timeout`` (not an upstream's 408 answer)."""
    return reply.status == 408 and reply.error is not None


def child_path(path: str, index: int) -> str:
    return f"{path}.targets[{index}]"
