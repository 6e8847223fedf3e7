"""Retries of one leaf target: on the configured statuses and on connection failures.

``retry.attempts`` counts retries after the first try (at most 5). Statuses retried by default:
429, 500, 502, 503, 504 (``on_status_codes`` replaces them); the gateway's synthetic 502 for an
unreachable upstream and 504 for a silent one are in that list, a 408 from a configured
``request_timeout`` is retried only when 408 is listed. Waits grow exponentially with jitter
(``retry_backoff_ms`` × 2^n, up to ``retry_backoff_max_ms``, each drawn from [½, 1] of that).
A ``Retry-After`` (``retry-after-ms``, ``x-ms-retry-after-ms``, ``retry-after`` seconds or date) on
a 429/503 replaces the backoff; the total such wait is capped per request, and an ask beyond the
cap stops retrying at once. ``reply.retries`` tells how many retries happened; -1 means the
attempts ran out (or were cut short by Retry-After) and the answer is still a retryable failure.
"""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from proxy.config import DEFAULT_RETRY_STATUS
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
) -> Reply:
    retry = target.retry
    attempts = retry.attempts if retry else 0
    reply = await once(call, target, path)
    if attempts == 0:
        return reply
    assert retry is not None
    codes = retry.on_status_codes or DEFAULT_RETRY_STATUS
    waited_after = 0.0
    for n in range(attempts):
        if reply.status not in codes:
            reply.retries = n
            return reply
        delay = backoff_ms(n, settings)
        if retry.use_retry_after_header and reply.status in (429, 503):
            asked = retry_after_ms(reply.headers)
            if asked is not None:
                if waited_after + asked > settings.retry_after_cap_ms:
                    reply.retries = -1
                    return reply
                waited_after += asked
                delay = asked
        await discard(reply)
        await asyncio.sleep(delay / 1000)
        reply = await once(call, target, path)
    reply.retries = -1 if reply.status in codes else attempts
    return reply
