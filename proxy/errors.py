"""Errors the gateway raises itself, and their JSON bodies.

    GatewayError                      any failure the gateway answers by itself
    ├── 400  bad header / config / body, unknown provider
    ├── 404  unknown route
    ├── 408  a configured request_timeout expired (OpenAI-shaped body, like Portkey)
    ├── 413  body over the configured limit
    ├── 502  upstream unreachable (connect refused, reset before headers)
    └── 504  upstream silent past the gateway's default timeout

Validation errors use Portkey's shape ``{"status": "failure", "message": ...}``; failures of the
upstream call, and an upstream's refusal the gateway cannot relay as sent (kind
``upstream_error``: a refused WebSocket upgrade), use the OpenAI envelope
``{"error": {"message", "type", "param", "code"}}`` so SDKs show the message. Upstream error
*responses* are never rewritten: they pass through unchanged.
Messages never contain a key: callers pass text built from names and statuses only.
"""

from __future__ import annotations

import msgspec


class GatewayError(Exception):
    def __init__(self, status: int, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind or _KIND.get(status, "gateway_error")

    def body(self) -> bytes:
        if self.status in _OPENAI_SHAPED or self.kind == "upstream_error":
            return msgspec.json.encode(
                {"error": {"message": self.message, "type": self.kind, "param": None, "code": None}}
            )
        return msgspec.json.encode({"status": "failure", "message": self.message})


_KIND = {
    400: "invalid_request_error",
    404: "not_found",
    408: "timeout_error",
    413: "request_too_large",
    502: "upstream_unreachable",
    504: "upstream_timeout",
}
_OPENAI_SHAPED = frozenset({408, 502, 504})
