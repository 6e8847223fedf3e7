"""HTTP API for saved configs (the hosted Portkey ``/v1/configs`` routes, self-hosted).

    GET    /v1/configs                      list (no bodies)
    POST   /v1/configs                      {"config": {...} | "<json>", "name"?, "id"?: "pc-…"} → 201
    GET    /v1/configs/{id}                 the current version
    PUT    /v1/configs/{id}                 {"config": ..., "name"?} → a new version
    DELETE /v1/configs/{id}                 the config and its history
    GET    /v1/configs/{id}/versions        every version (no bodies)
    GET    /v1/configs/{id}/versions/{n}    one version

Secret values (``api_key`` …) are always masked in answers (`proxy.masking`). A config that does
not validate is a 400 whose message names the field's path. These routes change what requests
do; put the gateway behind your own access control when it listens beyond loopback.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from aiohttp import web

from proxy.configstore import ConfigStore, SavedConfig, StoreError, Version
from proxy.handler import SERVICES
from proxy.masking import masked


def iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def shown(saved: SavedConfig | Version) -> dict[str, Any]:
    """A record as API and CLI show it: ISO times, secrets masked."""
    out = msgspec.to_builtins(saved)
    for k in ("created_at", "updated_at"):
        if k in out:
            out[k] = iso(out[k])
    if out.get("config") is not None:
        out["config"] = masked(out["config"])
    else:
        out.pop("config", None)
    return out


def _store(request: web.Request) -> ConfigStore:
    store = request.app[SERVICES].extras.get("configs")
    if store is None:
        raise StoreError(503, "saved configs are not enabled on this gateway")
    return store  # type: ignore[no-any-return]


def _reply(status: int, payload: Any) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(payload), content_type="application/json"
    )


def _error(status: int, message: str) -> web.Response:
    return _reply(status, {"status": "failure", "message": message})


async def _body(request: web.Request, *, need_config: bool) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        raise StoreError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StoreError(400, "expected a JSON object")
    if need_config and "config" not in body:
        raise StoreError(400, 'config: required (send {"config": {...}})')
    for field in ("name", "id"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise StoreError(400, f"{field}: expected a string")
    return body


def _handler(fn: Any) -> Any:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await fn(request, _store(request))  # type: ignore[no-any-return]
        except StoreError as e:
            return _error(e.status, e.message)

    return wrapped


async def _list(request: web.Request, store: ConfigStore) -> web.Response:
    items = [shown(s) for s in await store.list()]
    return _reply(200, {"object": "list", "total": len(items), "data": items})


async def _create(request: web.Request, store: ConfigStore) -> web.Response:
    body = await _body(request, need_config=True)
    saved = await store.create(body["config"], name=body.get("name"), config_id=body.get("id"))
    return _reply(201, shown(saved))


async def _show(request: web.Request, store: ConfigStore) -> web.Response:
    config_id = request.match_info["id"]
    version = request.match_info.get("version")
    if version is not None and not version.isdigit():
        raise StoreError(400, "version: expected an integer")
    saved = await store.get(config_id, int(version) if version is not None else None)
    if saved is None:
        what = f" version {version}" if version is not None else ""
        raise StoreError(404, f"no saved config with id '{config_id}'{what}")
    return _reply(200, shown(saved))


async def _update(request: web.Request, store: ConfigStore) -> web.Response:
    body = await _body(request, need_config=True)
    saved = await store.update(request.match_info["id"], body["config"], name=body.get("name"))
    return _reply(200, shown(saved))


async def _delete(request: web.Request, store: ConfigStore) -> web.Response:
    config_id = request.match_info["id"]
    if not await store.delete(config_id):
        raise StoreError(404, f"no saved config with id '{config_id}'")
    return _reply(200, {"id": config_id, "deleted": True})


async def _versions(request: web.Request, store: ConfigStore) -> web.Response:
    config_id = request.match_info["id"]
    found = await store.versions(config_id)
    if found is None:
        raise StoreError(404, f"no saved config with id '{config_id}'")
    items = [shown(v) for v in found]
    return _reply(200, {"object": "list", "id": config_id, "total": len(items), "data": items})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/configs", _handler(_list))
    r.add_post("/v1/configs", _handler(_create))
    r.add_get("/v1/configs/{id}", _handler(_show))
    r.add_put("/v1/configs/{id}", _handler(_update))
    r.add_delete("/v1/configs/{id}", _handler(_delete))
    r.add_get("/v1/configs/{id}/versions", _handler(_versions))
    r.add_get("/v1/configs/{id}/versions/{version}", _handler(_show))
