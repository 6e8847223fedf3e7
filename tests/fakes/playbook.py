"""Strategy decisions without sockets, in the manner of mitmproxy's Playbook.

A `Playbook` runs a resolved config tree with the real strategies and the real retry loop, but
every upstream attempt is answered from a script: ``{"config.targets[0]": [503, 200]}`` answers
the first attempt at that target 503 and the second 200 (an unscripted attempt answers 200).
``asked`` lists the target paths in the order they were tried, so a test asserts the next target.
Retry waits are recorded in ``slept`` (ms) instead of being slept.
"""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.chain import Call, Reply
from proxy.config import config_from_object, resolve
from proxy.providers import REGISTRY
from proxy.settings import load_settings
from strategies import STRATEGIES
from strategies.retry import with_retries

SETTINGS = load_settings(environ={}, retry_backoff_ms=10, retry_after_cap_ms=1000)


def reply(
    status: int, headers: list[tuple[str, str]] | None = None, error: str | None = None
) -> Reply:
    return Reply(status=status, headers=headers or [], body=b"{}", error=error)


def timeout_reply() -> Reply:
    """What `proxy.upstream.attempt` answers when a configured request_timeout expires."""
    return reply(408, [("Content-Type", "application/json")], error="Request exceeded the timeout")


def make_call(
    body: bytes = b"{}", metadata: dict[str, str] | None = None, path: str = "/chat/completions"
) -> Call:
    return Call(
        request=None,  # type: ignore[arg-type]
        method="POST",
        path=path,
        query="",
        endpoint="chat",
        body=body,
        headers=CIMultiDictProxy(CIMultiDict()),
        trace_id="t",
        config=config_from_object({"provider": "openai"}),
        metadata=metadata or {},
    )


class Closable:
    """Stands in for an open upstream response; counts closes."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Playbook:
    def __init__(self, script: dict[str, list[int | Reply]] | None = None) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.asked: list[str] = []
        self.slept: list[float] = []
        self.replies: list[Reply] = []

    async def once(self, call: Call, target: Any, path: str) -> Reply:
        self.asked.append(path)
        queue = self.script.get(path)
        item = queue.pop(0) if queue else 200
        r = item if isinstance(item, Reply) else reply(item)
        r.provider = target.provider
        r.target_path = path
        self.replies.append(r)
        return r

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds * 1000)

    async def run(self, call: Call, node: Any, path: str) -> Reply:
        if node.is_leaf:
            return await with_retries(call, node, path, self.once, SETTINGS, self.sleep)
        mode = node.strategy.mode if node.strategy else "single"
        return await STRATEGIES[mode](call, node, path, self.run)

    async def route(self, config: dict[str, Any], call: Call | None = None) -> Reply:
        tree = resolve(config_from_object(config), known_providers=REGISTRY)
        return await self.run(call or make_call(), tree, "config")
