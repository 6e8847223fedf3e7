"""Portkey's request headers → one `Call`. Every header form is read here and nowhere else.

Provider selection, in order: ``x-portkey-config`` (inline JSON or a saved ``pc-…`` id), then
``x-portkey-provider``, then the legacy ``x-portkey-mode: proxy <provider>``, then the gateway's
default config. Header shortcuts (retry count, timeout, custom host, forward headers, cache) are
folded into the resulting config tree so strategies see one structure.
"""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING, Any

import msgspec

from proxy.chain import Call
from proxy.config import (
    MAX_RETRY_ATTEMPTS,
    CacheConfig,
    ConfigError,
    RetryConfig,
    Target,
    check_custom_host,
    config_from_object,
    parse_config,
    resolve,
)
from proxy.errors import GatewayError
from proxy.traceids import new_trace_id

if TYPE_CHECKING:
    from aiohttp import web

    from proxy.services import Services

_ENDPOINTS = {
    "/chat/completions": "chat",
    "/completions": "completions",
    "/embeddings": "embeddings",
}
_EMPTY = Target()


def split_path(raw_path: str) -> str:
    """``/v1/proxy/<rest>`` and ``/v1/<rest>`` → ``/<rest>``; a doubled ``/v1/v1/`` collapses."""
    if raw_path.startswith("/v1/proxy/"):
        rest = raw_path[9:]
    elif raw_path.startswith("/v1/"):
        rest = raw_path[3:]
    else:
        rest = raw_path
    if rest.startswith("/v1/") and raw_path.startswith("/v1/proxy/"):
        rest = rest[3:]
    return rest


def new_call(request: web.Request, started: float) -> Call:
    """The parts of a Call that cannot fail, so even a rejected request gets a log row. Path
    and query stay as the client encoded them (``raw_path``), so they reach the provider byte
    for byte: decoded and encoded again, ``%20`` would become ``+`` and ``%2F`` a slash."""
    raw_path, _, query = request.raw_path.partition("?")
    path = split_path(raw_path)
    now_ns = time.time_ns()
    sent = request.headers.get("x-portkey-trace-id")
    return Call(
        request=request,
        method=request.method,
        path=path,
        query=query,
        endpoint=_ENDPOINTS.get(path, "proxy"),
        body=b"",
        headers=request.headers,
        trace_id=sent or new_trace_id(now_ns),
        config=_EMPTY,
        started=started,
        arrived_ns=now_ns,
        trace_made=not sent,
    )


def provider_key(headers: Any) -> str | None:
    """The provider key a client sent: ``Authorization: Bearer``, else ``x-api-key``/``api-key``."""
    auth = headers.get("authorization")
    if auth:
        return auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    return headers.get("x-api-key") or headers.get("api-key")


@functools.lru_cache(maxsize=256)
def _cached_config(text: str) -> Target:
    return parse_config(text)


_TRUE = frozenset({"true", "1", "yes", "on"})
_MAX_AGE = re.compile(r"max-age\s*[=:]\s*(\d+)")


def _header_provider(h: Any) -> str | None:
    provider = h.get("x-portkey-provider")
    if provider:
        return provider.strip()
    mode = h.get("x-portkey-mode")
    if mode:
        parts = mode.split()
        if len(parts) == 2 and parts[0].lower() == "proxy":
            return parts[1]
        if len(parts) == 1 and parts[0].lower() != "proxy":
            return parts[0]
        raise GatewayError(400, f"x-portkey-mode: expected 'proxy <provider>', got '{mode[:100]}'")
    return None


def _int_header(h: Any, name: str, minimum: int) -> int | None:
    value = h.get(name)
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise GatewayError(400, f"{name}: expected an integer, got '{value[:50]}'") from None
    if n < minimum:
        raise GatewayError(400, f"{name}: must be at least {minimum}")
    return n


def _json_header(h: Any, name: str) -> Any:
    value = h.get(name)
    if not value:
        return None
    try:
        return msgspec.json.decode(value)
    except msgspec.DecodeError:
        raise GatewayError(400, f"{name}: not valid JSON") from None


def _header_cache(h: Any) -> CacheConfig | None:
    mode = h.get("x-portkey-cache")
    if not mode:
        return None
    mode = mode.strip().lower()
    if mode.startswith("{"):  # langroid sends a JSON object
        raw = _json_header(h, "x-portkey-cache")
        try:
            return msgspec.convert(raw, CacheConfig)
        except msgspec.ValidationError as e:
            raise GatewayError(400, f"x-portkey-cache: {e}") from None
    if mode in ("false", "0", "off", "disabled"):
        return None
    if mode in _TRUE:
        mode = "simple"
    if mode not in ("simple", "semantic"):
        raise GatewayError(400, f"x-portkey-cache: expected simple or semantic, got '{mode[:50]}'")
    age = None
    m = _MAX_AGE.search(h.get("cache-control", ""))
    if m:
        age = int(m.group(1))
    return CacheConfig(mode=mode, max_age=age)


RESOLVED_CACHE_SIZE = 1024
"""Resolved configs kept per gateway (`_resolved_config`); the memo is emptied when full."""
_CONFIG_HEADERS = (
    "x-portkey-retry-count",
    "x-portkey-retry",
    "x-portkey-request-timeout",
    "x-portkey-custom-host",
    "x-portkey-forward-headers",
)


async def fill_call(call: Call, services: Services) -> None:
    """Read the headers into ``call.config`` (and friends); raise GatewayError(400) on bad input."""
    h = call.headers
    call.config = await _resolved_config(h, services)
    call.cache = _header_cache(h) or _top_cache(call.config)
    meta = _json_header(h, "x-portkey-metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            raise GatewayError(400, "x-portkey-metadata: expected a JSON object")
        call.metadata = {
            str(k): v if isinstance(v, str) else msgspec.json.encode(v).decode()
            for k, v in meta.items()
        }
    call.cache_namespace = h.get("x-portkey-cache-namespace") or None
    call.force_refresh = h.get("x-portkey-cache-force-refresh", "").strip().lower() in _TRUE


async def _resolved_config(h: Any, services: Services) -> Target:
    """The resolved config tree for these headers, memoised on the header values it reads.

    Resolving is a pure function of those values (and of the gateway's providers and default
    config, fixed at start-up), so most requests, which repeat the headers of the ones before,
    skip the parsing, header folding, validation and tree copies. Saved configs (``pc-…``) are
    never memoised: they can be updated while the gateway runs. Failures raise and are not kept.
    """
    config_text = h.get("x-portkey-config")
    if config_text:
        text = config_text.strip()
        if text.startswith("pc-") or (text and text[0] not in "{["):
            return await _resolve_headers(h, services, config_text)
    key = (
        h.get("x-portkey-provider"),
        h.get("x-portkey-mode"),
        config_text,
        provider_key(h),
        *[h.get(name) for name in _CONFIG_HEADERS],
    )
    memo = services.resolved_configs
    config = memo.get(key)
    if config is None:
        config = await _resolve_headers(h, services, config_text)
        if len(memo) >= RESOLVED_CACHE_SIZE:
            memo.clear()
        memo[key] = config
    return config


async def _resolve_headers(h: Any, services: Services, config_text: str | None) -> Target:
    provider = _header_provider(h)
    if config_text:
        config = await _config_from_header(config_text.strip(), services)
        if config.provider is None and not config.targets:
            if provider is None and config.virtual_key is None:
                raise GatewayError(
                    400,
                    "x-portkey-config: the config names no provider or targets; pass "
                    "x-portkey-provider or put a provider in the config",
                )
            config = msgspec.structs.replace(
                config, provider=provider, api_key=config.api_key or provider_key(h)
            )
        elif config.provider is None and provider is not None:
            # Targets that name no provider use the header's provider and the client's key;
            # targets naming another provider never see that key (config.resolve).
            config = msgspec.structs.replace(
                config, provider=provider, api_key=config.api_key or provider_key(h)
            )
    elif provider is not None:
        config = Target(provider=provider, api_key=provider_key(h))
    elif services.default_config is not None:
        config = services.default_config
        if config.provider is not None and config.api_key is None:
            config = msgspec.structs.replace(config, api_key=provider_key(h))
    else:
        raise GatewayError(400, "Either x-portkey-config or x-portkey-provider header is required")

    changes: dict[str, Any] = {}
    retries = _int_header(h, "x-portkey-retry-count", 0)
    if retries is not None:
        changes["retry"] = RetryConfig(attempts=min(retries, MAX_RETRY_ATTEMPTS))
    retry_json = h.get("x-portkey-retry")  # langroid's non-standard JSON form
    if retry_json and "retry" not in changes:
        try:
            changes["retry"] = msgspec.convert(_json_header(h, "x-portkey-retry"), RetryConfig)
        except msgspec.ValidationError as e:
            raise GatewayError(400, f"x-portkey-retry: {e}") from None
    timeout = _int_header(h, "x-portkey-request-timeout", 1)
    if timeout is not None:
        changes["request_timeout"] = timeout
    host = h.get("x-portkey-custom-host")
    if host:
        try:
            check_custom_host(host, "x-portkey-custom-host")
        except ConfigError as e:
            raise GatewayError(400, str(e)) from None
        changes["custom_host"] = host
    fwd = h.get("x-portkey-forward-headers")
    if fwd:
        names = [n.strip().lower() for n in fwd.split(",") if n.strip()]
        if "x-portkey-forward-headers" in names:
            raise GatewayError(400, "x-portkey-forward-headers: must not list itself")
        changes["forward_headers"] = names
    if changes:
        config = _apply_everywhere(config, changes)
    try:
        return resolve(config, known_providers=services.providers)
    except ConfigError as e:
        raise GatewayError(400, f"Invalid config: {e}") from None


def _top_cache(config: Target) -> CacheConfig | None:
    return config.cache


def _apply_everywhere(config: Target, changes: dict[str, Any]) -> Target:
    """Header shortcuts win over the config at every level of the tree."""
    kids = None
    if config.targets:
        kids = [_apply_everywhere(t, changes) for t in config.targets]
    return msgspec.structs.replace(config, **changes, **({"targets": kids} if kids else {}))


async def _config_from_header(text: str, services: Services) -> Target:
    if text.startswith("pc-") or (text and text[0] not in "{["):
        saved = await services.saved_config(text)
        if saved is None:
            raise GatewayError(400, f"x-portkey-config: no saved config with id '{text[:100]}'")
        return saved
    try:
        return _cached_config(text)
    except ConfigError as e:
        raise GatewayError(400, f"Invalid config passed: {e}") from None


def config_from_settings(raw: dict[str, Any] | None) -> Target | None:
    return None if raw is None else config_from_object(raw)


def now() -> float:
    return time.perf_counter()
