"""Request bodies as JSON, decoded with msgspec, only when a layer needs them."""

from __future__ import annotations

from typing import Any

import msgspec

from proxy.errors import GatewayError

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class Peek(msgspec.Struct):
    """The two fields the gateway reads on the hot path; the rest of the body is skipped."""

    model: str | None = None
    stream: bool | None = None


_peek = msgspec.json.Decoder(Peek)


def decode_body(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as e:
        raise GatewayError(400, f"request body is not valid JSON: {e}") from None


def peek(body: bytes) -> Peek:
    """``model`` and ``stream`` of a JSON body; an empty Peek when the body is not JSON."""
    if not body or body[:1] not in (b"{", b" ", b"\n", b"\t", b"\r"):
        return Peek()
    try:
        return _peek.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Peek()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)
