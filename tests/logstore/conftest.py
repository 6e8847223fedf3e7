"""Fakes of what the core hands to recorders: real `Call`/`Reply`/`Outcome`/`Attempt` structs
with no live request behind them."""

from __future__ import annotations

import itertools
import time
from typing import Any

import msgspec
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.chain import Call, Outcome, Reply
from proxy.config import CacheConfig, Target
from proxy.logstore import LogSettings, open_store
from proxy.upstream import Attempt

_seq = itertools.count()


def make_call(
    *,
    trace_id: str | None = None,
    provider: str = "openai",
    model: str = "gpt-4o-mini",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    attempts: int = 1,
    endpoint: str = "chat",
    cache: str | None = None,
    config: Target | None = None,
    stream: bool = False,
) -> Call:
    if body is None:
        body = msgspec.json.encode(
            {
                "model": model,
                "stream": stream,
                "messages": [{"role": "user", "content": "hello there"}],
            }
        )
    h = CIMultiDict({"content-type": "application/json", **(headers or {})})
    return Call(
        request=None,  # type: ignore[arg-type]
        method="POST",
        path="/chat/completions",
        query="",
        endpoint=endpoint,
        body=body,
        headers=CIMultiDictProxy(h),
        trace_id=trace_id or f"trace-{next(_seq)}",
        config=config or Target(provider=provider),
        metadata=metadata or {},
        cache=CacheConfig(mode=cache) if cache else None,
        started=time.perf_counter(),
        attempts=[
            Attempt(
                target_path="config",
                provider=provider,
                url="https://api.example.test/v1/chat/completions",
                status=500 if i < attempts - 1 else 200,
                latency_ms=12.5,
                ttfb_ms=10.0,
                started_at=time.time(),
            )
            for i in range(attempts)
        ],
    )


def make_reply(
    *,
    status: int = 200,
    provider: str = "openai",
    retries: int = 0,
    cache_status: str = "DISABLED",
    target_path: str = "config",
) -> Reply:
    return Reply(
        status=status,
        headers=[],
        provider=provider,
        retries=retries,
        cache_status=cache_status,
        ttfb_ms=10.0,
        target_path=target_path,
    )


def answer(prompt: int = 11, completion: int = 7, content: str = "hi!") -> bytes:
    return msgspec.json.encode(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    )


def make_outcome(
    *,
    status: int = 200,
    latency_ms: float = 42.0,
    body: bytes | None = None,
    streamed: bool = False,
    complete: bool = True,
    tail: bytes = b"",
    error: str | None = None,
) -> Outcome:
    if body is None and not streamed and status == 200:
        body = answer()
    return Outcome(
        status=status,
        latency_ms=latency_ms,
        streamed=streamed,
        complete=complete,
        error=error,
        body=body,
        stream_tail=tail,
        bytes_out=len(body or b"") + len(tail),
    )


async def record(store: Any, **kw: Any) -> Call:
    """Record one request; keyword args go to the call (``status``, ``latency_ms`` … to the
    outcome/reply)."""
    out_kw = {
        k: kw.pop(k)
        for k in ("latency_ms", "body", "streamed", "complete", "tail", "error")
        if k in kw
    }
    status = kw.pop("status", 200)
    rep_kw = {k: kw.pop(k) for k in ("retries", "cache_status") if k in kw}
    call = make_call(**kw)
    waiting = store.recorder.record(
        call,
        make_reply(status=status, provider=call.config.provider or "openai", **rep_kw),
        make_outcome(status=status, **out_kw),
    )
    if waiting is not None:  # the queue was full: wait for room, as the handler does
        await waiting
    return call


@pytest.fixture
async def open_logs(tmp_path):
    """``await open_logs(**settings)`` → a store in tmp_path, closed at teardown even when the
    test fails (aiosqlite's thread is not a daemon: a store left open hangs the run)."""
    opened = []

    async def opener(directory=None, **settings):
        s = await open_store(directory or tmp_path, LogSettings(**settings))
        opened.append(s)
        return s

    yield opener
    for s in opened:
        await s.close()


@pytest.fixture
async def store(open_logs):
    return await open_logs(bodies="full")
