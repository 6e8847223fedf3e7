"""Gateway settings: defaults, then a TOML file, then ``LOCKGATE_*`` environment variables.

Environment names map onto fields with ``__`` for nesting, e.g. ``LOCKGATE_PORT=9000`` or
``LOCKGATE_PROVIDERS__ANYSCALE__BASE_URL=http://127.0.0.1:9000/v1``. Unknown keys in the file are
errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import msgspec


class ProviderSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    base_url: str | None = None


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: str = "./data"
    workers: int = 1
    max_body_bytes: int = 32 * 1024 * 1024
    """Larger request bodies are answered 413."""
    upstream_timeout_s: float = 600.0
    """Default bound on an upstream call without a configured request_timeout (→ 504)."""
    connect_timeout_s: float = 10.0
    stream_idle_timeout_s: float = 300.0
    """Longest silence between two chunks of a stream before it is cut."""
    realtime_heartbeat_s: float = 30.0
    """Realtime sessions: both sockets are pinged this often, and closed when a pong does not
    come back in time (a peer gone without closing). 0 turns the pings off."""
    shutdown_grace_s: float = 30.0
    """On SIGTERM, how long in-flight requests and streams may take to finish."""
    retry_backoff_ms: float = 1000.0
    """First retry delay; doubles per retry (jittered), capped by retry_backoff_max_ms."""
    retry_backoff_max_ms: float = 16000.0
    retry_after_cap_ms: float = 60000.0
    """Total Retry-After wait honoured per request; a longer ask stops retrying."""
    default_config: dict[str, Any] | None = None
    """A config applied to requests that carry neither x-portkey-config nor a provider."""
    providers: dict[str, ProviderSettings] = {}
    cache: dict[str, Any] = {}
    logs: dict[str, Any] = {}
    """The request log (see docs/logs.md): enabled, bodies = off|truncated|full, body_limit …"""


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("LOCKGATE_") or name == "LOCKGATE_SETTINGS":
            continue
        path = name[len("LOCKGATE_") :].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _scalar(value)
    return out


def _scalar(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class SettingsError(ValueError):
    pass


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """File, then environment, then explicit overrides (the CLI flags) win."""
    environ = dict(os.environ) if environ is None else environ
    raw: dict[str, Any] = {}
    path = path or environ.get("LOCKGATE_SETTINGS")
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise SettingsError(f"settings file {path}: {e}") from None
    raw = _merge(raw, _env_overrides(environ))
    raw = _merge(raw, {k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise SettingsError(f"settings: {e}") from None
