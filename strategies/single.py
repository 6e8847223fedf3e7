"""``single``: the first target, as is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strategies.base import RunTarget, child_path

if TYPE_CHECKING:
    from proxy.chain import Call, Reply
    from proxy.config import Target


async def single(call: Call, node: Target, path: str, run: RunTarget) -> Reply:
    assert node.targets
    return await run(call, node.targets[0], child_path(path, 0))
