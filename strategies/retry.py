"""Retries of one leaf target: on the configured statuses and on the gateway's own failures.

``retry.attempts`` counts retries after the first try (at most 5). Statuses retried by default:
429, 500, 502, 503, 504 (``on_status_codes`` replaces them). The gateway's synthetic 502 for an
unreachable upstream and 504 for a silent one are in that list; its 408 for an expired
``request_timeout`` is a failed attempt too and is retried under the default list (Portkey retries
it only when 408 is listed; an explicit list is followed exactly, for every status). Each attempt
gets the full ``request_timeout``.

Waits grow exponentially with jitter (``retry_backoff_ms`` × 2^n, up to ``retry_backoff_max_ms``,
each drawn from [½, 1] of that). When ``use_retry_after_header`` is on (the default), a
``Retry-After`` (``retry-after-ms``, ``x-ms-retry-after-ms``, ``retry-after`` seconds or date) on a
429/503 replaces the backoff; the total such wait is capped per request (over every target of a
fallback, ``retry_after_cap_ms``), and an ask beyond what is left stops retrying at once.

``reply.retries`` (the ``x-portkey-retry-attempt-count`` header) tells how many retries happened:
0 when the first answer was final or no retry is configured; -1 when the attempts ran out, or
Retry-After cut them short, and the answer is still a retryable failure. Nothing here sees a
stream past its first chunk: a reply is retried on its status only, before the client got a byte.
"""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from proxy.config import DEFAULT_RETRY_STATUS
from strategies.base import is_gateway_timeout
from strategies.fallback import discard

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from proxy.chain import Call, Reply
    from proxy.config import Target
    from proxy.settings import Settings


def retry_after_ms(headers: list[tuple[str, str]]) -> float | None:
    found: dict[str, str] = {
        k.lower(): v
        for k, v in headers
        if k.lower() in ("retry-after-ms", "x-ms-retry-after-ms", "retry-after")
    }
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if name in found:
            try:
                return max(0.0, float(found[name]))
            except ValueError:
                pass
    value = found.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value) * 1000)
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value).timestamp() - time.time()) * 1000)
    except (TypeError, ValueError):
        return None


def backoff_ms(retry_index: int, settings: Settings, rnd: random.Random | None = None) -> float:
    ceiling = min(settings.retry_backoff_ms * (2**retry_index), settings.retry_backoff_max_ms)
    return ceiling * (0.5 + 0.5 * (rnd or random).random())


async def with_retries(
    call: Call,
    target: Target,
    path: str,
    once: Callable[[Call, Target, str], Awaitable[Reply]],
    settings: Settings,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Reply:
    retry = target.retry
    attempts = retry.attempts if retry else 0
    reply = await once(call, target, path)
    if attempts == 0:
        return reply
    assert retry is not None
    for n in range(attempts):
        if not retryable(reply, retry.on_status_codes):
            reply.retries = n
            return reply
        delay = backoff_ms(n, settings)
        if retry.use_retry_after_header and reply.status in (429, 503):
            asked = retry_after_ms(reply.headers)
            if asked is not None:
                if call.retry_after_waited_ms + asked > settings.retry_after_cap_ms:
                    reply.retries = -1
                    return reply
                call.retry_after_waited_ms += asked
                delay = asked
        await discard(reply)
        await sleep(delay / 1000)
        reply = await once(call, target, path)
    reply.retries = -1 if retryable(reply, retry.on_status_codes) else attempts
    return reply


def retryable(reply: Reply, codes: list[int] | None) -> bool:
    if codes:
        return reply.status in codes
    return reply.status in DEFAULT_RETRY_STATUS or is_gateway_timeout(reply)
