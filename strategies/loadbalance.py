"""``loadbalance``: one target per request, chosen at random in proportion to ``weight``.

Not sticky, no fallback of its own (nest a fallback under it for that); weight 0 never chosen.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from strategies.base import RunTarget, child_path

if TYPE_CHECKING:
    from proxy.chain import Call, Reply
    from proxy.config import Target


def pick(weights: list[float], rnd: random.Random | None = None) -> int:
    total = sum(weights)
    r = (rnd or random).random() * total
    for i, w in enumerate(weights):
        if w <= 0:
            continue
        r -= w
        if r < 0:
            return i
    return max(i for i, w in enumerate(weights) if w > 0)


async def loadbalance(call: Call, node: Target, path: str, run: RunTarget) -> Reply:
    assert node.targets
    i = pick([t.weight for t in node.targets])
    return await run(call, node.targets[i], child_path(path, i))
