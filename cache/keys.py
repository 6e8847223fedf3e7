"""Cache keys: which requests may share an answer.

Simple (exact) cache key = sha256 over a canonical form of
``{namespace, answer-relevant config, method, path, body minus fields that do not change the
answer}``. Canonical means decoded and re-encoded with sorted keys, so key order in the client's
JSON does not matter and a streamed request (``"stream": true``) shares its entry with the same
request sent without streaming. Provider keys are never part of the key material: the config
fingerprint takes only fields that decide *which* model answers (provider, host, overrides,
strategy), never ``api_key`` or ``virtual_key``.

Semantic scope = the same material minus the prompt itself: two requests may be compared by
embedding only when everything except the prompt text is identical (same model, temperature,
tools, system message, …), so different models or sampling settings never share an answer.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from proxy.chain import Call
    from proxy.config import Target

#: Body fields that change how an answer is delivered or attributed, not what it says.
IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "store", "metadata"})
#: Body fields that hold the prompt; the semantic scope leaves them out (the text is embedded).
PROMPT_FIELDS = ("messages", "prompt")

_canon = msgspec.json.Encoder(order="sorted")
_VERSION = b"lockgate-cache-v1\x00"
_SEP = b"\x00"


def canonical(value: Any) -> bytes:
    """JSON with every object's keys sorted (recursively): equal values, equal bytes."""
    return _canon.encode(value)


def strip_ignored(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without the fields that do not change the answer (copied only when needed)."""
    for name in IGNORED_FIELDS:
        if name in body:
            return {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    return body


def _node(t: Target) -> dict[str, Any]:
    if t.is_leaf:
        out: dict[str, Any] = {"p": t.provider}
        for f in (
            "custom_host",
            "override_params",
            "resource_name",
            "deployment_id",
            "api_version",
        ):
            v = getattr(t, f)
            if v is not None:
                out[f] = v
        return out
    strat = t.strategy
    out = {"t": [_node(k) for k in t.targets or ()]}
    if strat is not None:
        out["s"] = msgspec.to_builtins(strat)
    return out


def _has_conditional(t: Target) -> bool:
    if t.strategy is not None and t.strategy.mode == "conditional":
        return True
    return any(_has_conditional(k) for k in t.targets or ())


def config_fingerprint(target: Target | None, metadata: dict[str, str] | None = None) -> bytes:
    """What in the config decides which model answers. Secrets are left out on purpose.

    A conditional strategy routes on request metadata, so then the metadata is part of it too.
    """
    if target is None:
        return b"{}"
    tree = _node(target)
    if metadata and _has_conditional(target):
        tree = {"n": tree, "m": metadata}
    return canonical(tree)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256(_VERSION)
    for p in parts:
        h.update(p)
        h.update(_SEP)
    return h.hexdigest()


def body_material(body: bytes, decoded: Any) -> bytes:
    """Canonical bytes of a request body for the key; raw bytes when it is not a JSON object."""
    if isinstance(decoded, dict):
        return canonical(strip_ignored(decoded))
    return body


def exact_key(namespace: str, fingerprint: bytes, method: str, path: str, material: bytes) -> str:
    return _digest(namespace.encode(), fingerprint, method.encode(), path.encode(), material)


def decoded_body(call: Call) -> Any:
    """The call's JSON body, or None when it is not JSON (a key then hashes the raw bytes)."""
    if not call.body:
        return None
    try:
        return call.json()
    except Exception:  # not JSON (multipart upload …): exact key over the raw bytes
        return None


def call_key(call: Call, decoded: Any) -> str:
    """The simple-cache key of a call."""
    return exact_key(
        call.cache_namespace or "",
        config_fingerprint(call.config, call.metadata),
        call.method,
        call.path,
        body_material(call.body, decoded),
    )


def semantic_scope(call: Call, decoded: dict[str, Any], extra: Any, embedder_name: str) -> str:
    """Everything but the prompt: requests are only compared by meaning within one scope.

    ``extra`` carries prompt parts that must match exactly (e.g. the system message).
    """
    rest = {k: v for k, v in strip_ignored(decoded).items() if k not in PROMPT_FIELDS}
    return _digest(
        b"semantic",
        embedder_name.encode(),
        (call.cache_namespace or "").encode(),
        config_fingerprint(call.config, call.metadata),
        call.path.encode(),
        canonical(rest),
        canonical(extra),
    )
