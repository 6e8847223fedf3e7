"""Fixed payloads: the request bodies sent and the answers the fake upstream gives.

Built once at import from plain data, so every run sends and receives the same bytes. The
non-streaming answer is a realistic chat.completion of about 450 bytes; the stream is a role
chunk, N content chunks, a finish chunk and ``data: [DONE]``, like OpenAI's.
"""

from __future__ import annotations

import json

MODEL = "gpt-4o-mini"
FAIL_MODEL = "bench-503"
"""A request naming this model is answered 503 at once by the fake upstream."""
CHAT_PATH = "/v1/chat/completions"
FAIL_PREFIX = "/fail"
"""Any path under this prefix is answered 503 at once (e.g. ``/fail/v1/chat/completions``)."""

_MESSAGES = [{"role": "user", "content": "What happens when you mix red & yellow?"}]


def _compact(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def chat_body(*, stream: bool = False, model: str = MODEL) -> bytes:
    """A chat request body; ``"stream":true`` is written compactly, as most SDKs do."""
    body: dict[str, object] = {"model": model, "messages": _MESSAGES}
    if stream:
        body["stream"] = True
    return _compact(body)


CHAT = chat_body()
CHAT_STREAM = chat_body(stream=True)

_CONTENT = (
    "Mixing red and yellow gives orange, a secondary colour. More red makes it warmer and "
    "closer to vermilion; more yellow makes it lighter, towards amber."
)

COMPLETION = _compact(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _CONTENT},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 34, "total_tokens": 48},
        "system_fingerprint": "fp_bench0001",
    }
)

FAILURE = _compact(
    {
        "error": {
            "message": "The server is overloaded (fake upstream).",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
)


def _event(delta: dict[str, str], finish: str | None) -> bytes:
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + _compact(chunk) + b"\n\n"


def stream_events(n: int) -> list[bytes]:
    """The SSE events of one streamed answer with ``n`` content chunks (``n`` >= 1)."""
    words = _CONTENT.split(" ")
    events = [_event({"role": "assistant", "content": ""}, None)]
    for i in range(n):
        events.append(_event({"content": words[i % len(words)] + " "}, None))
    events.append(_event({}, "stop"))
    events.append(b"data: [DONE]\n\n")
    return events
