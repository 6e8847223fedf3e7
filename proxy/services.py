"""Process-wide state, created at start-up and shared by every request (one per worker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import aiohttp

    from proxy.chain import Next, Recorder
    from proxy.config import Target
    from proxy.providers.base import ProviderSpec
    from proxy.settings import Settings


async def _no_saved_configs(config_id: str) -> Target | None:
    return None


class Services(msgspec.Struct, kw_only=True):
    settings: Settings
    providers: dict[str, ProviderSpec]
    session: aiohttp.ClientSession | None = None
    """The one pooled upstream client session (opened in the app's cleanup context)."""
    chain: Next | None = None
    realtime: Next | None = None
    """The router for WebSocket sessions: the same strategies over an upstream handshake."""
    recorders: list[Recorder] = []
    default_config: Target | None = None
    saved_config: Callable[[str], Awaitable[Target | None]] = _no_saved_configs
    """Looks up a saved config by id (``pc-…``); replaced when the config store is open."""
    resolved_configs: dict[tuple[str | None, ...], Target] = {}
    """Configs resolved from request headers, by the header values read (`proxy.headers`)."""
    extras: dict[str, Any] = {}
    """Feature services by name (cache, log store …) for admin routes and the CLI."""
