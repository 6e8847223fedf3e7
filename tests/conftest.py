"""Shared fixtures: a fake provider and the real gateway, both on loopback sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from proxy.app import create_app
from proxy.settings import load_settings
from tests.fakes.upstream import FakeUpstream, make_app


class Served:
    """An aiohttp app served on 127.0.0.1 the way production serves it (run_app's defaults:
    handlers are not cancelled when the client leaves), unlike aiohttp's TestServer."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner = web.AppRunner(app, handler_cancellation=False, access_log=None)
        self.url = ""

    async def start(self) -> Served:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        await self.runner.cleanup()


class Upstream(Served):
    def __init__(self, fake: FakeUpstream) -> None:
        super().__init__(make_app(fake))
        self.fake = fake


@pytest.fixture
async def upstream() -> Any:
    up = Upstream(FakeUpstream())
    await up.start()
    yield up
    await up.close()


Gateway = Served


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(upstream: Upstream, tmp_path: Any) -> Any:
    """Start the real gateway app; providers openai/anyscale/anthropic point at the fake."""
    servers: list[Served] = []

    async def start(features: list[Any] | None = None, **overrides: Any) -> Gateway:
        providers = {
            p: {"base_url": f"{upstream.url}/v1"}
            for p in ("openai", "anyscale", "anthropic", "groq", "together-ai")
        }
        providers.update(overrides.pop("providers", {}))
        # no model load per gateway unless a test asks for the semantic cache
        overrides.setdefault("cache", {"embedder": "off"})
        settings = load_settings(
            environ={},
            data_dir=str(tmp_path / "data"),
            providers=providers,
            retry_backoff_ms=5,
            **overrides,
        )
        server = await Served(create_app(settings, features=features)).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        await s.close()


@pytest.fixture
async def gateway(make_gateway: Any) -> Gateway:
    return await make_gateway()


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


def openai_headers(
    provider: str = "openai", key: str = "sk-test-123", **extra: str
) -> dict[str, str]:
    return {"x-portkey-provider": provider, "Authorization": f"Bearer {key}", **extra}


async def log_rows(http: aiohttp.ClientSession, gw: Served, **params: Any) -> list[Any]:
    """``GET /v1/logs`` with ``params``: the rows."""
    async with http.get(gw.url + "/v1/logs", params=params) as r:
        assert r.status == 200
        return (await r.json())["data"]


async def flush_logs(gw: Served) -> None:
    """Wait until every row queued so far is in the log file."""
    from proxy.handler import SERVICES

    await gw.app[SERVICES].extras["logs"].flush()
