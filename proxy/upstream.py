"""One attempt against one provider: build the upstream request, send it, return a `Reply`.

An attempt never raises for upstream trouble. A connection failure becomes a synthetic 502, a
timeout a synthetic 408 (configured ``request_timeout``) or 504 (the gateway's default bound),
each with an OpenAI-shaped JSON body, so retry and fallback decide on status alone.

Streams: the first chunk is read inside the timeout before the reply is handed on, so a slow first
byte still counts as a timeout and may be retried; from then on the answer is committed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

import aiohttp
import msgspec
from yarl import URL

from proxy.chain import Reply
from proxy.deadlines import bound
from proxy.errors import GatewayError
from proxy.jsonbody import encode

if TYPE_CHECKING:
    from proxy.chain import Call
    from proxy.config import Target
    from proxy.services import Services


class Attempt(msgspec.Struct, kw_only=True):
    """One upstream attempt, for the log (no key, no body)."""

    target_path: str
    provider: str
    url: str
    status: int
    latency_ms: float
    ttfb_ms: float | None = None
    error: str | None = None
    started_at: float = 0.0


# Request headers never forwarded: hop-by-hop (RFC 9110 §7.6.1), ones aiohttp sets itself, the
# client's credentials (the provider's auth header is set from the resolved key instead).
_DROP_REQUEST = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",  # unless the body went undecoded: see `_decoded`
        "expect",
        "accept-encoding",
        "authorization",
        "api-key",
        "x-api-key",
        "cookie",
    }
)
# Response headers not relayed: hop-by-hop, and lengths the server recomputes.
DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "date",
        "server",
    }
)
_AUTH_HEADER = {"bearer": "Authorization", "api-key": "api-key", "x-api-key": "x-api-key"}
_NAMES_KEPT = 1024
"""Header names whose verdict (forwarded or not) is remembered, as sent (any case): clients send
the same few names on every request, and a dict hit costs less than lowering and testing each
name again. Names past this many are judged each time (a client inventing names cannot grow
the memo)."""
_request_verdicts: dict[str, bool] = {}
_response_verdicts: dict[str, bool] = {}


_DECODED_ENCODINGS = frozenset({"gzip", "deflate", "br", "zstd"})


def _decoded(encoding: str) -> bool:
    """Whether aiohttp's server decoded a request body sent with this Content-Encoding (it
    decodes exactly one of these). Then the decoded bytes go upstream without the header;
    any other encoding, it left alone, and the header goes with the body as it came."""
    return encoding.strip().lower() in _DECODED_ENCODINGS


def _forwarded(name: str) -> bool:
    """Whether a request header goes upstream by default (not ``x-portkey-*``, not dropped)."""
    low = name.lower()
    ok = not (low.startswith("x-portkey-") or low in _DROP_REQUEST)
    if len(_request_verdicts) < _NAMES_KEPT:
        _request_verdicts[name] = ok
    return ok


def _relayed(name: str) -> bool:
    """Whether an upstream response header is relayed to the client."""
    ok = name.lower() not in DROP_RESPONSE
    if len(_response_verdicts) < _NAMES_KEPT:
        _response_verdicts[name] = ok
    return ok


def relayed_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The upstream response headers passed on to the client (not hop-by-hop, not the lengths
    and stamps the gateway's server sets itself), in their order and spelling."""
    relayed = _response_verdicts
    return [
        (k, v) for k, v in headers.items() if (ok := relayed.get(k)) or (ok is None and _relayed(k))
    ]


def upstream_url(services: Services, target: Target, call: Call) -> str:
    spec = services.providers[target.provider]  # type: ignore[index]
    if target.custom_host:
        base = target.custom_host.rstrip("/")
        if spec.custom_host_suffix and not base.endswith(spec.custom_host_suffix):
            base += spec.custom_host_suffix
    else:
        base = spec.base_url or ""
    if spec.build_url is not None:
        return spec.build_url(spec, target, call, base)
    if not base:
        raise GatewayError(
            400,
            f"provider '{spec.slug}' needs a custom host "
            "(x-portkey-custom-host or the config's custom_host)",
        )
    return f"{base}{call.path}?{call.query}" if call.query else base + call.path


def upstream_headers(services: Services, target: Target, call: Call) -> dict[str, str]:
    """The headers sent upstream: the client's that may go (a name sent twice in one spelling
    goes once with its values joined by ", ", as HTTP allows for list-valued fields), the
    provider's defaults where the client sent no such name in any spelling, and the provider
    key the provider's way."""
    spec = services.providers[target.provider]  # type: ignore[index]
    fwd = target.forward_headers
    out: dict[str, str] = {}
    verdicts = _request_verdicts
    for name, value in call.headers.items():
        ok = verdicts.get(name)
        if not (ok or (ok is None and _forwarded(name))):
            if not fwd:
                continue
            low = name.lower()
            if not (
                low in fwd
                and not low.startswith("x-portkey-")
                and low not in ("host", "content-length", "transfer-encoding", "connection")
            ):
                continue
        if name in out:
            out[name] = f"{out[name]}, {value}"
        else:
            out[name] = value
    sent = call.headers
    if (enc := sent.get("Content-Encoding")) is not None and not _decoded(enc):
        out["Content-Encoding"] = enc
    for name, value in spec.default_headers:
        if name not in sent:  # case-insensitive: the client's own spelling wins
            out[name] = value
    key = target.api_key
    if key and spec.auth != "none":
        header = _AUTH_HEADER[spec.auth]
        if not (fwd and header.lower() in fwd and header in out):
            out[header] = f"Bearer {key}" if spec.auth == "bearer" else key
    return out


def request_body(target: Target, call: Call) -> bytes:
    """The client's bytes, untouched, unless ``override_params`` must be merged in."""
    if not target.override_params:
        return call.body
    body = call.json()
    if not isinstance(body, dict):
        raise GatewayError(400, "override_params need a JSON object body")
    return encode({**body, **target.override_params})


RELAY_WHOLE_BELOW = 1 << 20
"""A 2xx body up to this many bytes (by its Content-Length) is read whole, then sent; a larger
one (a file download) is relayed chunk by chunk like a stream, so the gateway never holds it."""


_DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
"""A connection that went away before the answer began (connect failures excepted)."""


def as_sent(url: str) -> str | URL:
    """``url`` for aiohttp, so the request line carries the client's own path and query. A str
    is requoted (``%20`` would become ``+``), but also parsed once and cached by yarl; a URL
    marked encoded is sent as it is, but built anew each time. So the str where requoting
    changes nothing: no percent-escape in it (the usual case)."""
    return URL(url, encoded=True) if "%" in url else url


def attempt_limit(services: Services, target: Target) -> float:
    """Seconds one attempt may take: the target's ``request_timeout``, else the gateway's
    default bound."""
    if target.request_timeout is not None:
        return target.request_timeout / 1000
    return services.settings.upstream_timeout_s


def timed_out(services: Services, target: Target, path: str, waiting_for: str) -> Reply:
    """An attempt past `attempt_limit`: 408 for a configured ``request_timeout`` (Portkey's
    answer), else 504."""
    provider = target.provider or ""
    if target.request_timeout is not None:
        msg = f"Request exceeded the timeout sent in the request: {target.request_timeout}ms"
        return synthetic_reply(408, msg, "timeout_error", provider, path)
    msg = (
        f"upstream {provider} did not {waiting_for} within "
        f"{services.settings.upstream_timeout_s:g}s"
    )
    return synthetic_reply(504, msg, "upstream_timeout", provider, path)


def unreachable(target: Target, path: str, e: BaseException) -> Reply:
    provider = target.provider or ""
    msg = f"upstream {provider} unreachable: {type(e).__name__}"
    return synthetic_reply(502, msg, "upstream_unreachable", provider, path)


def synthetic_reply(status: int, message: str, kind: str, provider: str, path: str) -> Reply:
    err = GatewayError(status, message, kind=kind)
    return Reply(
        status=status,
        headers=[("Content-Type", "application/json")],
        body=err.body(),
        provider=provider,
        target_path=path,
        error=message,
    )


async def attempt(services: Services, call: Call, target: Target, path: str) -> Reply:
    """Call ``target`` once; the reply's body is read unless it is a 2xx stream (SSE, chunked,
    or longer than `RELAY_WHOLE_BELOW`)."""
    assert services.session is not None and target.provider is not None
    url = upstream_url(services, target, call)
    headers = upstream_headers(services, target, call)
    body = request_body(target, call)
    limit = attempt_limit(services, target)
    t0 = time.perf_counter()
    started_at = time.time()
    resp: aiohttp.ClientResponse | None = None
    reply: Reply
    try:
        with bound(limit):
            session, target_url, data = services.session, as_sent(url), body or None
            try:
                resp = await session.request(
                    call.method, target_url, data=data, headers=headers, allow_redirects=False
                )
            except _DROPPED as e:
                if isinstance(e, aiohttp.ClientConnectorError):
                    raise
                # Dropped before any answer: most often a pooled connection the upstream
                # closed for idling just as the request went out (uvicorn, behind vLLM and
                # others, closes after 5 s). aiohttp sends idempotent methods once more by
                # itself; a POST, once more here, on another connection.
                resp = await session.request(
                    call.method, target_url, data=data, headers=headers, allow_redirects=False
                )
            ttfb = (time.perf_counter() - t0) * 1000
            out_headers = relayed_headers(resp.headers)
            ctype = resp.headers.get("Content-Type", "")
            length = resp.content_length
            streaming = 200 <= resp.status < 300 and (
                ctype.startswith("text/event-stream")
                or (
                    resp.headers.get("Transfer-Encoding", "").lower() == "chunked"
                    if length is None
                    else length > RELAY_WHOLE_BELOW
                )
            )
            if streaming:
                first = await resp.content.readany()
                reply = Reply(
                    status=resp.status,
                    headers=out_headers,
                    chunks=_chunks(first, resp),
                    upstream=resp,
                )
            else:
                data = await resp.read()
                resp.release()
                reply = Reply(status=resp.status, headers=out_headers, body=data)
            reply.ttfb_ms = ttfb
    except TimeoutError:
        if resp is not None:
            resp.close()
        reply = timed_out(services, target, path, "answer")
    except (aiohttp.ClientError, OSError) as e:
        if resp is not None:
            resp.close()
        reply = unreachable(target, path, e)
    note_attempt(call, reply, target.provider, path, url, t0, started_at)
    return reply


def note_attempt(
    call: Call, reply: Reply, provider: str, path: str, url: str, t0: float, started_at: float
) -> None:
    """Stamp ``reply`` with who answered and add the attempt to the call's list (for the log;
    the URL without its query)."""
    reply.provider = provider
    reply.target_path = path
    call.attempts.append(
        Attempt(
            target_path=path,
            provider=provider,
            url=url.split("?", 1)[0],
            status=reply.status,
            latency_ms=(time.perf_counter() - t0) * 1000,
            ttfb_ms=reply.ttfb_ms,
            error=reply.error,
            started_at=started_at,
        )
    )


async def _chunks(first: bytes, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in resp.content.iter_any():
        yield chunk
