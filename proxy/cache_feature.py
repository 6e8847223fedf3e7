"""Feature: the response cache (``cache/``) as the outermost layer, plus its admin routes.

    GET    /v1/cache/stats              entries, bytes, hits/misses by mode, semantic vectors
    DELETE /v1/cache[?namespace=NS]     empty the cache (or one namespace)
    DELETE /v1/cache/timings            forget the embed/search times sampled so far (bench)

The cache is outermost so that a hit never reaches routing, retries or the upstream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from cache import CacheService, CacheSettings, open_cache

if TYPE_CHECKING:
    from proxy.chain import Layer
    from proxy.services import Services


def cache_settings(raw: dict[str, Any]) -> CacheSettings:
    try:
        return msgspec.convert(raw, CacheSettings, strict=False)
    except msgspec.ValidationError as e:
        raise ValueError(f"settings [cache]: {e}") from None


async def response_cache(
    app: web.Application, services: Services, layers: list[Layer]
) -> AsyncIterator[None]:
    service = await open_cache(
        services.settings.data_dir,
        cache_settings(services.settings.cache),
        session=services.session,
        background_embedder=True,
        workers=services.settings.workers,
    )
    layers.insert(0, service.layer)
    services.extras["cache"] = service
    try:
        yield
    finally:
        await service.close()


def _service(request: web.Request) -> CacheService:
    from proxy.handler import SERVICES

    return request.config_dict[SERVICES].extras["cache"]  # type: ignore[no-any-return]


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await _service(request).stats(), dumps=_dumps)


async def clear(request: web.Request) -> web.Response:
    namespace = request.query.get("namespace")
    removed = await _service(request).clear(namespace)
    return web.json_response({"status": "success", "removed": removed, "namespace": namespace})


async def reset_timings(request: web.Request) -> web.Response:
    _service(request).reset_timings()
    return web.json_response({"status": "success"})


def _dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/cache/stats", stats)
    app.router.add_delete("/v1/cache", clear)
    app.router.add_delete("/v1/cache/timings", reset_timings)
