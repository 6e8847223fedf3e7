"""OpenAI server-sent events ↔ one JSON answer (spec §4.4).

`StreamAssembler` reads a chat/text completion stream as it is relayed and, once the stream has
completed, builds the ``chat.completion`` (or ``text_completion``) JSON that a non-streamed call
would have returned; that is what the cache stores, so one entry serves both kinds of request.
`replay_events` goes the other way: a stored answer becomes the SSE events of a stream (a role
chunk, content in 500-character pieces, tool calls as a name chunk then an arguments chunk, a
finish chunk, usage when asked for, ``data: [DONE]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

PIECE = 500
DONE = b"data: [DONE]\n\n"

_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder()


class _Choice:
    __slots__ = ("role", "content", "refusal", "tools", "finish", "logprobs", "text")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.logprobs: list[Any] | None = None
        self.text: list[str] = []


class StreamAssembler:
    """Incremental SSE parser and answer builder; bounded by ``max_bytes`` of event data.

    ``result()`` is None unless the stream was a well-formed completion stream that ended
    (``[DONE]`` seen or every choice finished) without an error event.
    """

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._buf = b""
        self._max = max_bytes
        self._size = 0
        self.failed = False
        self.done = False
        self._head: dict[str, Any] = {}
        self._object: str | None = None
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None

    def feed(self, chunk: bytes) -> None:
        if self.failed:
            return
        self._size += len(chunk)
        if self._size > self._max:
            self.failed = True
            self._buf = b""
            return
        self._buf += chunk
        while True:
            cut = self._event_end()
            if cut is None:
                return
            end, sep = cut
            event, self._buf = self._buf[:end], self._buf[end + sep :]
            self._event(event)
            if self.failed:
                return

    def _event_end(self) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for sep in (b"\n\n", b"\r\n\r\n"):
            i = self._buf.find(sep)
            if i >= 0 and (best is None or i < best[0]):
                best = (i, len(sep))
        return best

    def _event(self, raw: bytes) -> None:
        data = [line[5:].lstrip() for line in raw.splitlines() if line.startswith(b"data:")]
        if not data:
            return  # comment / keep-alive / event name only
        payload = b"\n".join(data)
        if payload.strip() == b"[DONE]":
            self.done = True
            return
        try:
            obj = _decode.decode(payload)
        except msgspec.DecodeError:
            self.failed = True
            return
        if not isinstance(obj, dict) or "error" in obj:
            self.failed = True
            return
        self._chunk(obj)

    def _chunk(self, obj: dict[str, Any]) -> None:
        kind = obj.get("object")
        if kind not in ("chat.completion.chunk", "text_completion"):
            self.failed = True
            return
        if self._object is None:
            self._object = kind
        for f in ("id", "created", "model", "system_fingerprint", "service_tier", "provider"):
            if f not in self._head and obj.get(f) is not None:
                self._head[f] = obj[f]
        if obj.get("usage"):
            self._usage = obj["usage"]
        for c in obj.get("choices") or ():
            ch = self._choices.setdefault(int(c.get("index", 0)), _Choice())
            if c.get("finish_reason"):
                ch.finish = c["finish_reason"]
            lp = c.get("logprobs")
            if kind == "text_completion":
                if isinstance(c.get("text"), str):
                    ch.text.append(c["text"])
                if lp:
                    ch.logprobs = (ch.logprobs or []) + [lp]
                continue
            if isinstance(lp, dict) and lp.get("content"):
                ch.logprobs = (ch.logprobs or []) + list(lp["content"])
            delta = c.get("delta") or {}
            if delta.get("role"):
                ch.role = delta["role"]
            if isinstance(delta.get("content"), str):
                ch.content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                ch.refusal.append(delta["refusal"])
            for tc in delta.get("tool_calls") or ():
                slot = ch.tools.setdefault(
                    int(tc.get("index", 0)),
                    {"id": None, "type": "function", "name": [], "args": []},
                )
                if tc.get("id"):
                    slot["id"] = tc["id"]
                if tc.get("type"):
                    slot["type"] = tc["type"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["name"].append(fn["name"])
                if isinstance(fn.get("arguments"), str):
                    slot["args"].append(fn["arguments"])

    @property
    def complete(self) -> bool:
        if self.failed or self._object is None or not self._choices:
            return False
        return self.done or all(c.finish for c in self._choices.values())

    def result(self) -> dict[str, Any] | None:
        """The assembled answer, or None when the stream is not a complete completion stream."""
        if not self.complete:
            return None
        out: dict[str, Any] = {
            "id": self._head.get("id", ""),
            "object": "chat.completion"
            if self._object == "chat.completion.chunk"
            else "text_completion",
            "created": self._head.get("created", 0),
            "model": self._head.get("model", ""),
        }
        for f in ("system_fingerprint", "service_tier", "provider"):
            if f in self._head:
                out[f] = self._head[f]
        choices = []
        for i in sorted(self._choices):
            ch = self._choices[i]
            if self._object == "text_completion":
                lp = ch.logprobs[-1] if ch.logprobs else None
                choices.append(
                    {
                        "text": "".join(ch.text),
                        "index": i,
                        "logprobs": lp,
                        "finish_reason": ch.finish,
                    }
                )
                continue
            msg: dict[str, Any] = {
                "role": ch.role or "assistant",
                "content": "".join(ch.content) if ch.content else None,
            }
            if ch.refusal:
                msg["refusal"] = "".join(ch.refusal)
            if ch.tools:
                msg["tool_calls"] = [
                    {
                        "id": t["id"],
                        "type": t["type"],
                        "function": {"name": "".join(t["name"]), "arguments": "".join(t["args"])},
                    }
                    for _, t in sorted(ch.tools.items())
                ]
            choices.append(
                {
                    "index": i,
                    "message": msg,
                    "logprobs": {"content": ch.logprobs} if ch.logprobs else None,
                    "finish_reason": ch.finish,
                }
            )
        out["choices"] = choices
        if self._usage is not None:
            out["usage"] = self._usage
        return out


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + _encode.encode(obj) + b"\n\n"


def _pieces(text: str) -> Iterator[str]:
    for i in range(0, len(text), PIECE):
        yield text[i : i + PIECE]


def replay_events(answer: Any, *, include_usage: bool = True) -> list[bytes] | None:
    """SSE events for a stored ``chat.completion`` / ``text_completion``; None if not one."""
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
        return None
    kind = answer.get("object")
    head = {
        k: answer[k]
        for k in ("id", "created", "model", "system_fingerprint", "service_tier", "provider")
        if k in answer
    }
    out: list[bytes] = []
    if kind == "chat.completion":
        head["object"] = "chat.completion.chunk"

        def chunk(choice: dict[str, Any]) -> bytes:
            return _event({**head, "choices": [choice]})

        for c in answer["choices"]:
            i = c.get("index", 0)
            msg = c.get("message") or {}
            out.append(
                chunk(
                    {
                        "index": i,
                        "delta": {"role": msg.get("role", "assistant"), "content": ""},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                )
            )
            for piece in _pieces(msg.get("content") or ""):
                out.append(
                    chunk(
                        {
                            "index": i,
                            "delta": {"content": piece},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    )
                )
            if msg.get("refusal"):
                out.append(
                    chunk(
                        {
                            "index": i,
                            "delta": {"refusal": msg["refusal"]},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    )
                )
            for n, tc in enumerate(msg.get("tool_calls") or ()):
                fn = tc.get("function") or {}
                out.append(
                    chunk(
                        {
                            "index": i,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": n,
                                        "id": tc.get("id"),
                                        "type": tc.get("type", "function"),
                                        "function": {"name": fn.get("name", ""), "arguments": ""},
                                    }
                                ]
                            },
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    )
                )
                out.append(
                    chunk(
                        {
                            "index": i,
                            "delta": {
                                "tool_calls": [
                                    {"index": n, "function": {"arguments": fn.get("arguments", "")}}
                                ]
                            },
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    )
                )
            out.append(
                chunk(
                    {
                        "index": i,
                        "delta": {},
                        "logprobs": None,
                        "finish_reason": c.get("finish_reason"),
                    }
                )
            )
    elif kind == "text_completion":
        head["object"] = "text_completion"
        for c in answer["choices"]:
            i = c.get("index", 0)
            for piece in _pieces(c.get("text") or ""):
                out.append(
                    _event(
                        {
                            **head,
                            "choices": [
                                {"text": piece, "index": i, "logprobs": None, "finish_reason": None}
                            ],
                        }
                    )
                )
            out.append(
                _event(
                    {
                        **head,
                        "choices": [
                            {
                                "text": "",
                                "index": i,
                                "logprobs": None,
                                "finish_reason": c.get("finish_reason"),
                            }
                        ],
                    }
                )
            )
    else:
        return None
    if include_usage and answer.get("usage") is not None:
        out.append(_event({**head, "choices": [], "usage": answer["usage"]}))
    out.append(DONE)
    return out
