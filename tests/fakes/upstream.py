"""A fake provider on loopback, OpenAI- and Anthropic-shaped, with faults chosen per request.

Faults come from a script (``upstream.script.append("503")`` — consumed one per request, in
order) or from the model name of the request (``"model": "fault:429"``). Behaviours:

- ``ok`` (default): a normal answer; ``"stream": true`` gives SSE chunks then ``[DONE]``.
- ``500``/``502``/``503``/``504``/``400``…: that status with an OpenAI error body.
- ``429``: 429 with ``Retry-After: <retry_after>`` seconds (default 0).
- ``slow:<ms>``: sleep before sending headers.
- ``slowstream:<ms>``: headers at once, then one chunk every <ms> until 50 chunks were sent.
- ``stall:<ms>``: a stream whose headers come at once and whose first chunk comes after <ms>.
- ``cut``: a stream that sends two chunks then closes the connection mid-way.
- ``reset``: abort the connection (RST) without answering; ``drop``: close it (FIN) without
  answering, as a server closing an idle keep-alive connection does.
- ``echo``: answer with the headers and body it received (to check what was forwarded).
- ``bigfile:<ms>``: `BIG_FILE` (3 MiB, with Content-Length): one MiB, a pause of <ms>, the rest;
  ``bigcut``: the first MiB, then the connection closed.

A WebSocket upgrade (any path) gets a Realtime-API-shaped session (`tests.fakes.realtime`); the
script's status, ``reset`` and ``slow:<ms>`` faults apply to its handshake.

Every request is recorded in ``upstream.seen`` (method, path, query, headers, body).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from aiohttp import web

from tests.fakes.realtime import realtime_session

KEY = web.AppKey("fake", "FakeUpstream")


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""
    """Path and query as they came on the request line (still percent-encoded)."""

    @classmethod
    def of(cls, request: web.Request, body: bytes) -> Seen:
        return cls(
            request.method,
            request.path,
            request.query_string,
            dict(request.headers),
            body,
            request.raw_path,
        )

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class FakeUpstream:
    script: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    retry_after: str = "0"
    chunks: int = 5
    cancelled: int = 0
    """Streams the fake saw its client drop before it finished."""
    extra_headers: dict[str, str] = field(default_factory=dict)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    """Realtime sessions the fake accepted."""
    closes: list[int | None] = field(default_factory=list)
    """Close codes of the realtime sessions that ended."""

    def behaviour(self, body: Any) -> str:
        if self.script:
            return self.script.pop(0)
        model = body.get("model", "") if isinstance(body, dict) else ""
        if isinstance(model, str) and model.startswith("fault:"):
            return model[6:]
        return "ok"


def completion(model: str, text: str = "Hello from the fake upstream.") -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
    }


def chat_chunks(model: str, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"tok{i} "}
        ev = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        out.append(f"data: {json.dumps(ev)}\n\n".encode())
    last = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": n - 1, "total_tokens": 8 + n},
    }
    out.append(f"data: {json.dumps(last)}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_events(model: str) -> list[bytes]:
    evs = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "usage": {"input_tokens": 9, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hello"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in evs]


async def _handle(request: web.Request) -> web.StreamResponse:
    fake: FakeUpstream = request.app[KEY]
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await realtime_session(request, fake)
    raw = await request.read()
    fake.seen.append(Seen.of(request, raw))
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    what = fake.behaviour(body)
    model = body.get("model", "fake-model") if isinstance(body, dict) else "fake-model"
    stream = isinstance(body, dict) and bool(body.get("stream"))

    if what == "reset":
        return await drop_connection(request)
    if what == "drop":
        assert request.transport is not None
        request.transport.close()  # a keep-alive connection closed as the request came
        await asyncio.sleep(0.05)
        return web.Response()
    if what.startswith("slow:"):
        await asyncio.sleep(int(what[5:]) / 1000)
        what = "ok"
    if what.startswith("bigfile:"):
        return await _big_file(request, int(what[8:]) / 1000)
    if what == "bigcut":
        return await _big_file(request, 0.0, cut=True)
    if what.isdigit() or what == "429":
        status = int(what)
        headers = {"Retry-After": fake.retry_after} if status == 429 else {}
        return web.json_response(
            {
                "error": {
                    "message": f"fake upstream error {status}",
                    "type": "fake_error",
                    "param": None,
                    "code": None,
                }
            },
            status=status,
            headers=headers,
        )
    if what == "echo":
        return web.json_response(
            {
                "headers": dict(request.headers),
                "body": body,
                "path": request.path,
                "query": request.query_string,
            },
            headers=fake.extra_headers,
        )
    if request.path.endswith(("/audio/transcriptions", "/audio/translations")):
        form = _form(request, raw)
        audio = form.get("file", (None, b""))
        return web.json_response(
            {
                "text": f"heard {len(audio[1])} bytes of {audio[0]}",
                "model": form["model"][1].decode(),
            }
        )
    if request.path.endswith("/audio/speech"):
        return await _stream(
            request, fake, speech_chunks(body.get("input", "")), what, "audio/mpeg"
        )
    if request.path.endswith("/files") and request.method == "POST":
        form = _form(request, raw)
        return web.json_response(
            {
                "id": "file-fake",
                "object": "file",
                "bytes": len(form["file"][1]),
                "created_at": 1,
                "filename": form["file"][0],
                "purpose": form["purpose"][1].decode(),
                "status": "processed",
            }
        )
    if "/files/" in request.path and request.method == "DELETE":
        return web.json_response(
            {"id": request.path.rsplit("/", 1)[1], "object": "file", "deleted": True}
        )
    if request.path.endswith("/messages"):
        if stream:
            return await _stream(request, fake, anthropic_events(model), what)
        return web.json_response(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "Hello"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 9, "output_tokens": 2},
            }
        )
    if request.path.endswith("/embeddings"):
        inputs = body.get("input", "") if isinstance(body, dict) else ""
        n = len(inputs) if isinstance(inputs, list) else 1
        return web.json_response(
            {
                "object": "list",
                "model": model,
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(n)
                ],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        )
    if request.path.endswith("/completions") and not request.path.endswith("chat/completions"):
        if stream:
            evs = [
                f"data: {json.dumps({'id': 'cmpl-fake', 'object': 'text_completion', 'model': model, 'choices': [{'index': 0, 'text': f'w{i} ', 'finish_reason': None}]})}\n\n".encode()
                for i in range(3)
            ]
            return await _stream(request, fake, evs + [b"data: [DONE]\n\n"], what)
        return web.json_response(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "text": "Hello", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
            }
        )
    if request.method == "GET":
        return web.json_response(
            {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
        )
    if stream:
        return await _stream(request, fake, chat_chunks(model, fake.chunks), what)
    return web.json_response(completion(model), headers=fake.extra_headers)


def speech_chunks(text: str) -> list[bytes]:
    """Binary "audio" for ``text``: every byte value, several chunks (not valid UTF-8)."""
    seed = text.encode() or b"x"
    return [bytes((b + i) % 256 for b in seed) + bytes(range(256)) for i in range(4)]


def _form(request: web.Request, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body: field name → (filename, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = (part.get_filename(), part.get_payload(decode=True))
    return out


async def _stream(
    request: web.Request,
    fake: FakeUpstream,
    events: list[bytes],
    what: str,
    content_type: str = "text/event-stream",
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    await resp.prepare(request)
    if what == "cut":
        for ev in events[:2]:
            await resp.write(ev)
        await asyncio.sleep(0.02)
        assert request.transport is not None
        request.transport.close()
        return resp
    if what.startswith("stall:"):
        await asyncio.sleep(int(what[6:]) / 1000)
        if request.transport is None or request.transport.is_closing():
            fake.cancelled += 1
            return resp
        what = "ok"
    if what.startswith("slowstream:"):
        pause = int(what.split(":")[1]) / 1000
        try:
            for i in range(50):
                await resp.write(events[min(i, len(events) - 2)])
                await asyncio.sleep(pause)
        except (ConnectionError, RuntimeError):
            fake.cancelled += 1
            return resp
        if request.transport is None or request.transport.is_closing():
            fake.cancelled += 1
        return resp
    for ev in events:
        await resp.write(ev)
    await resp.write_eof()
    return resp


BIG_FILE = bytes(range(256)) * (3 * 4096)
"""3 MiB: a body past the gateway's read-whole limit."""


async def _big_file(request: web.Request, pause: float, cut: bool = False) -> web.StreamResponse:
    """`BIG_FILE` with its Content-Length: the first MiB, a pause, then the rest (or, when
    ``cut``, the connection closed instead)."""
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    resp.content_length = len(BIG_FILE)
    await resp.prepare(request)
    await resp.write(BIG_FILE[: 1 << 20])
    if cut:
        await asyncio.sleep(0.02)
        assert request.transport is not None
        request.transport.close()
        return resp
    await asyncio.sleep(pause)
    await resp.write(BIG_FILE[1 << 20 :])
    await resp.write_eof()
    return resp


async def drop_connection(request: web.Request) -> web.Response:
    """Drop the connection without an answer."""
    assert request.transport is not None
    request.transport.abort()
    await asyncio.sleep(0.05)
    return web.Response()


def make_app(fake: FakeUpstream | None = None) -> web.Application:
    app = web.Application()
    app[KEY] = fake or FakeUpstream()
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


def now_ms() -> float:
    return time.perf_counter() * 1000
