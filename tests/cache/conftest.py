"""Shared fixtures: one MiniLM model per session, Calls built directly (no HTTP request)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from cache.embedder import MiniLMEmbedder
from proxy.chain import Call, Reply
from proxy.config import CacheConfig, Target


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder.load()


ENDPOINTS = {
    "/chat/completions": "chat",
    "/completions": "completions",
    "/embeddings": "embeddings",
}


def make_call(
    body: Any,
    *,
    mode: str | None = "simple",
    max_age: int | None = None,
    namespace: str | None = None,
    force_refresh: bool = False,
    path: str = "/chat/completions",
    provider: str = "openai",
    api_key: str | None = "sk-secret-test-key",
    method: str = "POST",
    config: Target | None = None,
    metadata: dict[str, str] | None = None,
) -> Call:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return Call(
        request=None,
        method=method,
        path=path,
        query="",  # type: ignore[arg-type]
        endpoint=ENDPOINTS.get(path, "proxy"),
        body=raw,
        headers=CIMultiDictProxy(CIMultiDict({"authorization": f"Bearer {api_key}"})),
        trace_id="t",
        config=config or Target(provider=provider, api_key=api_key),
        cache=CacheConfig(mode=mode, max_age=max_age) if mode else None,  # type: ignore[arg-type]
        cache_namespace=namespace,
        force_refresh=force_refresh,
        metadata=metadata or {},
    )


def chat(text: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def completion_json(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def sse_chunks(text: str, model: str = "gpt-4o-mini", usage: bool = True) -> list[bytes]:
    head = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1700000001,
        "model": model,
    }
    enc = msgspec.json.encode
    out = [
        b"data: "
        + enc(
            {
                **head,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
        + b"\n\n"
    ]
    for i in range(0, len(text), 4):
        out.append(
            b"data: "
            + enc(
                {
                    **head,
                    "choices": [
                        {"index": 0, "delta": {"content": text[i : i + 4]}, "finish_reason": None}
                    ],
                }
            )
            + b"\n\n"
        )
    out.append(
        b"data: "
        + enc({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        + b"\n\n"
    )
    if usage:
        out.append(
            b"data: "
            + enc(
                {
                    **head,
                    "choices": [],
                    "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
                }
            )
            + b"\n\n"
        )
    out.append(b"data: [DONE]\n\n")
    return out


class FakeUpstream:
    """A ``nxt`` that counts calls and answers with a scripted Reply."""

    def __init__(self) -> None:
        self.calls = 0
        self.status = 200
        self.text = "answer"
        self.stream_text: str | None = None

    async def __call__(self, call: Call) -> Reply:
        self.calls += 1
        body = call.json()
        if body.get("stream"):
            chunks = sse_chunks(
                self.stream_text or f"{self.text} {self.calls}", model=body.get("model", "m")
            )

            async def it() -> Any:
                for c in chunks:
                    yield c

            return Reply(
                status=self.status,
                headers=[("content-type", "text/event-stream")],
                chunks=it(),
                provider="openai",
            )
        answer = completion_json(f"{self.text} {self.calls}", model=body.get("model", "m"))
        return Reply(
            status=self.status,
            headers=[
                ("content-type", "application/json"),
                ("x-request-id", "req-1"),
                ("x-ratelimit-remaining", "9"),
            ],
            body=msgspec.json.encode(answer),
            provider="openai",
        )


async def relay(reply: Reply, *, cut_after: int | None = None) -> bytes:
    """What the gateway's relay does with a streamed Reply: write chunks, feed tees, close."""
    out = []
    n = 0
    complete = True
    assert reply.chunks is not None
    async for chunk in reply.chunks:
        if cut_after is not None and n >= cut_after:
            complete = False
            break
        out.append(chunk)
        n += 1
        for t in reply.tees:
            t.feed(chunk)
    for t in reply.tees:
        t.close(complete)
    return b"".join(out)
