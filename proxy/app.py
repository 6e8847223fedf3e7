"""The application factory: routes, the one upstream session, the chain, the features.

Chain order (outermost first), and why:
1. features' layers in FEATURE order — the cache sits outermost so a hit never reaches routing;
2. the router (strategy → retry → timeout-bounded attempt), innermost, always last.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from proxy import admin_configs, admin_logs, cache_feature, configstore, observability, realtime
from proxy.chain import Layer, build_chain
from proxy.handler import SERVICES, handle, handle_realtime, health, not_found
from proxy.headers import config_from_settings
from proxy.providers import registry_with_overrides
from proxy.services import Services
from proxy.settings import Settings
from strategies.router import make_router

# A feature adds layers, recorders, routes or lookups to the gateway. It is an async context
# function: set up before ``yield``, tear down after (e.g. drain the log queue on shutdown).
Feature = Callable[[web.Application, Services, list[Layer]], AsyncIterator[None]]
FEATURES: list[Feature] = [
    observability.observability,  # no layer: metrics + SQLite log recorders, drained at exit
    configstore.saved_configs,  # no layer: answers x-portkey-config: pc-… ids from memory
    cache_feature.response_cache,  # layer, put first: a hit never reaches routing or upstream
]
ADMIN_ROUTES: list[Callable[[web.Application], None]] = [
    admin_logs.add_routes,  # /v1/logs…, /v1/analytics, /v1/feedback
    observability.add_metrics_route,  # /metrics (Prometheus text)
    cache_feature.add_routes,  # /v1/cache/stats, DELETE /v1/cache
    admin_configs.add_routes,  # /v1/configs…, before the /v1/* catch-all
]

HOT_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


def make_session(settings: Settings) -> aiohttp.ClientSession:
    """One pooled session per process; bodies relayed as they come (no decompression)."""
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30
    )
    timeout = aiohttp.ClientTimeout(
        total=None, connect=settings.connect_timeout_s, sock_read=settings.stream_idle_timeout_s
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding",),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def create_app(settings: Settings, features: list[Feature] | None = None) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes, handler_args={"max_field_size": 65536}
    )
    services = Services(
        settings=settings,
        providers=registry_with_overrides({k: v.base_url for k, v in settings.providers.items()}),
        default_config=config_from_settings(settings.default_config),
    )
    app[SERVICES] = services
    chosen = FEATURES if features is None else features

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services.session = make_session(settings)
        layers: list[Layer] = []
        running = []
        try:
            for feature in chosen:
                gen = feature(app, services, layers)
                await gen.__anext__()
                running.append(gen)
            services.chain = build_chain(layers, make_router(services))
            services.realtime = make_router(services, realtime.open_upstream)
            yield
        finally:
            for gen in reversed(running):
                try:
                    await gen.__anext__()
                except StopAsyncIteration:
                    pass
            await services.session.close()

    app.cleanup_ctx.append(lifecycle)
    app[realtime.SESSIONS] = weakref.WeakSet()
    app.on_shutdown.append(realtime.close_sessions)
    app.router.add_get("/health", health)
    app.router.add_get("/", health)
    for add in ADMIN_ROUTES:
        add(app)
    # The busiest paths as plain resources: aiohttp finds those with one dict lookup, where the
    # catch-all below costs a walk over the prefixes and a regex match per request.
    for path in HOT_PATHS:
        app.router.add_route("*", path, handle)
    app.router.add_get("/v1/realtime", handle_realtime)  # WebSocket sessions (proxy.realtime)
    app.router.add_route("*", "/v1/{tail:.*}", handle)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


Startup = Callable[[web.Application], Awaitable[None]]
