"""``conditional``: route on request metadata or params with Portkey's query operators.

``strategy.conditions`` is an ordered list of ``{query, then}``; the first query that matches
picks the target named ``then``, else ``strategy.default``, else a 400. Query keys are dotted paths
into ``{"metadata": …, "params": <request body>, "url": {"pathname": …}}``. Operators: $eq $ne $gt
$gte $lt $lte $in $nin $regex, and $and / $or over lists of sub-queries; a bare value is $eq.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from proxy.errors import GatewayError
from strategies.base import RunTarget, child_path

if TYPE_CHECKING:
    from proxy.chain import Call, Reply
    from proxy.config import Target

_MISSING = object()


def lookup(context: Any, dotted: str) -> Any:
    node = context
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "$eq":
        return actual is not _MISSING and actual == expected
    if op == "$ne":
        return actual is _MISSING or actual != expected
    if op in ("$gt", "$gte", "$lt", "$lte"):
        a, b = _num(actual), _num(expected)
        if a is None or b is None:
            return False
        return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
    if op == "$in":
        return isinstance(expected, list) and actual is not _MISSING and actual in expected
    if op == "$nin":
        return isinstance(expected, list) and (actual is _MISSING or actual not in expected)
    if op == "$regex":
        return isinstance(actual, str) and re.search(str(expected), actual) is not None
    raise GatewayError(400, f"conditional router: unknown operator '{op}'")


def matches(query: dict[str, Any], context: dict[str, Any]) -> bool:
    for key, cond in query.items():
        if key == "$and":
            if not all(matches(q, context) for q in cond):
                return False
        elif key == "$or":
            if not any(matches(q, context) for q in cond):
                return False
        else:
            actual = lookup(context, key)
            if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
                if not all(_compare(op, actual, exp) for op, exp in cond.items()):
                    return False
            elif not _compare("$eq", actual, cond):
                return False
    return True


def choose(node: Target, context: dict[str, Any]) -> int:
    assert node.strategy and node.targets
    names = {t.name: i for i, t in enumerate(node.targets) if t.name}
    for cond in node.strategy.conditions or ():
        if matches(cond.query, context):
            return names[cond.then]
    if node.strategy.default is not None:
        return names[node.strategy.default]
    raise GatewayError(400, "Query router did not resolve to any valid target")


async def conditional(call: Call, node: Target, path: str, run: RunTarget) -> Reply:
    body = call.json() if call.body else {}
    context = {
        "metadata": call.metadata,
        "params": body if isinstance(body, dict) else {},
        "url": {"pathname": call.request.path if call.request is not None else call.path},
    }
    i = choose(node, context)
    return await run(call, node.targets[i], child_path(path, i))  # type: ignore[index]
