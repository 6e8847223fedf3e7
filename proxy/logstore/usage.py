"""Token counts of an answer: read from its ``usage`` when the provider sent one, else guessed.

Non-streamed bodies are decoded into a struct that declares only ``usage`` (and the bits needed
for a guess), so msgspec skips everything else without building objects. Streams are read from
the tail the relay kept: the usage chunk is the last ``data:`` event before ``[DONE]``.

The guess (``estimated=True``) is deliberately crude — about 4 characters per token:
prompt = request body bytes / 4; completion = answer text characters / 4 for a JSON answer,
or, for a stream without usage, one token per content event (events counted in the tail and
scaled by ``bytes_out / len(tail)``).
"""

from __future__ import annotations

import msgspec


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None  # Anthropic-shaped
    output_tokens: int | None = None


class _GeminiUsage(msgspec.Struct):
    promptTokenCount: int | None = None
    candidatesTokenCount: int | None = None
    totalTokenCount: int | None = None


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    text: str | None = None


class _Answer(msgspec.Struct):
    usage: _Usage | None = None
    usageMetadata: _GeminiUsage | None = None
    choices: list[_Choice] | None = None
    model: str | None = None


class _UsageOnly(msgspec.Struct):
    """What a usual answer is read for: msgspec skips ``choices`` without building them."""

    usage: _Usage | None = None
    usageMetadata: _GeminiUsage | None = None
    model: str | None = None


class _Nested(msgspec.Struct):
    """What a stream event wraps: the Responses API's ``response.completed``
    (``{"response": {"usage": …}}``), Anthropic's ``message_start`` (``{"message": …}``)."""

    usage: _Usage | None = None
    model: str | None = None


class _Event(msgspec.Struct):
    usage: _Usage | None = None
    usageMetadata: _GeminiUsage | None = None
    response: _Nested | None = None
    message: _Nested | None = None
    """Anthropic's ``message_start``: the prompt's tokens (its ``message_delta`` at the end
    carries only the output's)."""


_answer = msgspec.json.Decoder(_Answer)
_usage_only = msgspec.json.Decoder(_UsageOnly)
_event = msgspec.json.Decoder(_Event)


class Tokens(msgspec.Struct, frozen=True):
    prompt: int | None = None
    completion: int | None = None
    total: int | None = None
    estimated: bool = False
    model: str | None = None
    """The model the answer names (e.g. a dated snapshot), when it was read."""


NONE = Tokens()


def _from_usage(
    u: _Usage | None, g: _GeminiUsage | None, model: str | None = None
) -> Tokens | None:
    """Tokens from a usage object (OpenAI/Anthropic or Gemini shaped), with ``model`` kept."""
    if u is not None:
        p = u.prompt_tokens if u.prompt_tokens is not None else u.input_tokens
        c = u.completion_tokens if u.completion_tokens is not None else u.output_tokens
        if p is None and c is None and u.total_tokens is None:
            return None
        total = u.total_tokens if u.total_tokens is not None else (p or 0) + (c or 0)
        return Tokens(p, c, total, False, model)
    if g is not None and (g.promptTokenCount is not None or g.totalTokenCount is not None):
        p, c = g.promptTokenCount, g.candidatesTokenCount
        total = g.totalTokenCount if g.totalTokenCount is not None else (p or 0) + (c or 0)
        return Tokens(p, c, total, False, model)
    return None


def from_body(body: bytes | None, request_bytes: int) -> Tokens:
    """Tokens of a non-streamed JSON answer (OpenAI, Anthropic or Gemini shaped)."""
    if not body or body.lstrip()[:1] != b"{":
        return NONE
    try:
        head = _usage_only.decode(body)
        found = _from_usage(head.usage, head.usageMetadata, head.model)
        if found is not None:
            return found
        ans = _answer.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return NONE
    if not ans.choices:
        return Tokens(model=ans.model)
    chars = 0
    for ch in ans.choices:
        if ch.message is not None and ch.message.content:
            chars += len(ch.message.content)
        elif ch.text:
            chars += len(ch.text)
    p, c = request_bytes // 4, (chars + 3) // 4
    return Tokens(p, c, p + c, True, ans.model)


def from_stream(tail: bytes, bytes_out: int, request_bytes: int) -> Tokens:
    """Tokens of an SSE stream, from its kept tail."""
    if not tail:
        return NONE
    events = 0
    output_only: Tokens | None = None  # Anthropic's closing usage: look on for the prompt's
    for line in reversed(tail.split(b"\n")):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            continue
        events += 1
        if b'"usage' not in data:
            continue
        try:
            ev = _event.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        if output_only is not None:
            if ev.message is not None and ev.message.usage is not None:
                p = ev.message.usage.input_tokens
                if p is not None:
                    c = output_only.completion or 0
                    return Tokens(p, c, p + c, False, ev.message.model)
            continue
        found = _from_usage(ev.usage, ev.usageMetadata)
        if found is None and ev.response is not None:
            found = _from_usage(ev.response.usage, None, ev.response.model)
        if found is not None and found.prompt is None and found.completion is not None:
            output_only = found
            continue
        if found is not None:
            return found
    if output_only is not None:
        return output_only  # the stream's start was not kept: the prompt's count is unknown
    if events == 0:
        return NONE
    scale = max(bytes_out, len(tail)) / len(tail)
    p, c = request_bytes // 4, max(1, round(events * scale))
    return Tokens(p, c, p + c, True)
