"""``conditional``: route on request metadata or params with Portkey's query operators.

``strategy.conditions`` is an ordered list of ``{query, then}``; the first query that matches
picks the target named ``then``, else ``strategy.default``, else a 400. Query keys are dotted paths
into ``{"metadata": …, "params": <request body>, "url": {"pathname": …}}``. Operators: $eq $ne $gt
$gte $lt $lte (numeric, both sides read as numbers) $in $nin $regex, and $and / $or over lists of
sub-queries; a bare value is $eq. A missing field equals nothing: it fails $eq/$in/$gt…/$regex
and satisfies $ne/$nin.

Queries are checked when the config is validated (`check_query`), so a request never meets an
unknown operator or a bad pattern. The body is decoded only when a query reads ``params``; a body
that is not a JSON object reads as ``{}``.
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
_NUMERIC = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}
OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$regex", *_NUMERIC})
_LOGICAL = frozenset({"$and", "$or"})


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
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "$eq":
        return actual is not _MISSING and actual == expected
    if op == "$ne":
        return actual is _MISSING or actual != expected
    if op in _NUMERIC:
        a, b = _num(actual), _num(expected)
        return a is not None and b is not None and _NUMERIC[op](a, b)
    if op == "$in":
        return actual is not _MISSING and actual in expected
    if op == "$nin":
        return actual is _MISSING or actual not in expected
    if op == "$regex":
        return isinstance(actual, str) and re.search(expected, actual) is not None
    raise GatewayError(400, f"conditional router: unknown operator '{op}'")


def _is_ops(cond: Any) -> bool:
    return isinstance(cond, dict) and bool(cond) and all(str(k).startswith("$") for k in cond)


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
            if _is_ops(cond):
                if not all(_compare(op, actual, exp) for op, exp in cond.items()):
                    return False
            elif not _compare("$eq", actual, cond):
                return False
    return True


def check_query(query: dict[str, Any], where: str) -> None:
    """Raise `ConfigError` naming the path of the first unusable part of ``query``."""
    from proxy.config import ConfigError

    for key, cond in query.items():
        here = f"{where}.{key}"
        if key in _LOGICAL:
            if not isinstance(cond, list) or not all(isinstance(q, dict) for q in cond):
                raise ConfigError(f"{here}: expected an array of queries")
            for i, q in enumerate(cond):
                check_query(q, f"{here}[{i}]")
        elif key.startswith("$"):
            raise ConfigError(f"{here}: unknown operator (use {', '.join(sorted(_LOGICAL))})")
        elif _is_ops(cond):
            for op, exp in cond.items():
                if op not in OPERATORS:
                    raise ConfigError(
                        f"{here}.{op}: unknown operator (use {', '.join(sorted(OPERATORS))})"
                    )
                if op in ("$in", "$nin") and not isinstance(exp, list):
                    raise ConfigError(f"{here}.{op}: expected an array")
                if op in _NUMERIC and _num(exp) is None:
                    raise ConfigError(f"{here}.{op}: expected a number")
                if op == "$regex":
                    if not isinstance(exp, str):
                        raise ConfigError(f"{here}.{op}: expected a string")
                    try:
                        re.compile(exp)
                    except re.error as e:
                        raise ConfigError(f"{here}.{op}: invalid pattern ({e})") from None


def choose(node: Target, context: dict[str, Any]) -> int:
    assert node.strategy and node.targets
    names = {t.name: i for i, t in enumerate(node.targets) if t.name}
    for cond in node.strategy.conditions or ():
        if matches(cond.query, context):
            return names[cond.then]
    if node.strategy.default is not None:
        return names[node.strategy.default]
    raise GatewayError(400, "Query router did not resolve to any valid target")


def _reads_params(query: dict[str, Any]) -> bool:
    for key, cond in query.items():
        if key in _LOGICAL:
            if any(_reads_params(q) for q in cond):
                return True
        elif key == "params" or key.startswith("params."):
            return True
    return False


def context_of(call: Call, node: Target) -> dict[str, Any]:
    """What queries look into; the body is decoded only when some query reads ``params``."""
    params: Any = {}
    assert node.strategy is not None
    if call.body and any(_reads_params(c.query) for c in node.strategy.conditions or ()):
        try:
            params = call.json()
        except GatewayError:
            params = {}
    return {
        "metadata": call.metadata,
        "params": params if isinstance(params, dict) else {},
        "url": {"pathname": call.request.path if call.request is not None else call.path},
    }


async def conditional(call: Call, node: Target, path: str, run: RunTarget) -> Reply:
    i = choose(node, context_of(call, node))
    return await run(call, node.targets[i], child_path(path, i))  # type: ignore[index]
