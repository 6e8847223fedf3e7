"""Header shortcuts fold into the same config tree a config would give."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import config_from_object
from proxy.errors import GatewayError
from proxy.headers import fill_call
from proxy.providers import registry_with_overrides
from proxy.services import Services
from proxy.settings import load_settings
from tests.fakes.playbook import make_call

SERVICES = Services(settings=load_settings(environ={}), providers=registry_with_overrides({}))


async def planned(headers, services=SERVICES):
    call = make_call()
    call.headers = CIMultiDictProxy(CIMultiDict(headers))
    await fill_call(call, services)
    return call.config


async def test_header_shortcuts_equal_the_config_fields():
    by_headers = await planned(
        {
            "x-portkey-provider": "openai",
            "Authorization": "Bearer sk-a",
            "x-portkey-retry-count": "3",
            "x-portkey-request-timeout": "2500",
            "x-portkey-custom-host": "http://127.0.0.1:8000/v1",
            "x-portkey-forward-headers": "X-Team, x-trace",
        }
    )
    cfg = {
        "provider": "openai",
        "api_key": "sk-a",
        "retry": {"attempts": 3},
        "request_timeout": 2500,
        "custom_host": "http://127.0.0.1:8000/v1",
        "forward_headers": ["x-team", "x-trace"],
    }
    by_config = await planned({"x-portkey-config": json.dumps(cfg)})
    assert by_headers == by_config
    legacy = await planned(
        {
            "x-portkey-mode": "proxy openai",
            "Authorization": "Bearer sk-a",
            "x-portkey-retry-count": "3",
            "x-portkey-request-timeout": "2500",
            "x-portkey-custom-host": "http://127.0.0.1:8000/v1",
            "x-portkey-forward-headers": "X-Team, x-trace",
        }
    )
    assert legacy == by_config


async def test_shortcuts_win_over_the_config_at_every_level():
    cfg = {
        "strategy": {"mode": "fallback"},
        "request_timeout": 9000,
        "targets": [{"provider": "openai", "request_timeout": 7000}, {"provider": "groq"}],
    }
    t = await planned(
        {
            "x-portkey-config": json.dumps(cfg),
            "x-portkey-request-timeout": "100",
            "x-portkey-retry-count": "9",
        }
    )
    assert [k.request_timeout for k in t.targets] == [100, 100]
    assert [k.retry.attempts for k in t.targets] == [5, 5]  # clamped


async def test_header_provider_fills_targets_that_name_none():
    cfg = {
        "strategy": {"mode": "fallback"},
        "targets": [{"override_params": {"model": "a"}}, {"provider": "groq", "api_key": "gsk"}],
    }
    t = await planned(
        {
            "x-portkey-config": json.dumps(cfg),
            "x-portkey-provider": "openai",
            "Authorization": "Bearer sk-client",
        }
    )
    assert (t.targets[0].provider, t.targets[0].api_key) == ("openai", "sk-client")
    assert (t.targets[1].provider, t.targets[1].api_key) == ("groq", "gsk")


async def test_saved_config_ids_are_looked_up():
    saved = config_from_object({"provider": "groq", "api_key": "gsk-saved"})

    async def lookup(config_id):
        return saved if config_id == "pc-mine-abc123" else None

    services = Services(
        settings=SERVICES.settings, providers=SERVICES.providers, saved_config=lookup
    )
    t = await planned({"x-portkey-config": "pc-mine-abc123"}, services)
    assert (t.provider, t.api_key) == ("groq", "gsk-saved")
    with pytest.raises(GatewayError) as e:
        await planned({"x-portkey-config": "pc-other-000000"}, services)
    assert e.value.status == 400 and "pc-other-000000" in e.value.message


async def test_invalid_config_is_a_400_naming_the_path():
    cfg = {
        "strategy": {"mode": "loadbalance"},
        "targets": [{"provider": "openai"}, {"weight": "x"}],
    }
    with pytest.raises(GatewayError) as e:
        await planned({"x-portkey-config": json.dumps(cfg)})
    assert e.value.status == 400
    assert "targets[1].weight: expected a number" in e.value.message


async def test_resolved_configs_are_memoised_on_every_header_they_read():
    services = Services(settings=SERVICES.settings, providers=SERVICES.providers)
    base = {"x-portkey-provider": "openai", "Authorization": "Bearer sk-a"}
    first = await planned(base, services)
    assert await planned(base, services) is first
    assert len(services.resolved_configs) == 1
    variants = [
        {"Authorization": "Bearer sk-b"},
        {"x-portkey-provider": "groq"},
        {"x-portkey-retry-count": "2"},
        {"x-portkey-retry": '{"attempts": 1}'},
        {"x-portkey-request-timeout": "900"},
        {"x-portkey-custom-host": "http://127.0.0.1:9/v1"},
        {"x-portkey-forward-headers": "x-team"},
        {"x-portkey-config": '{"retry": {"attempts": 4}}'},
    ]
    for extra in variants:
        t = await planned({**base, **extra}, services)
        assert t != first, extra
    assert (await planned({**base, "Authorization": "Bearer sk-b"}, services)).api_key == "sk-b"
    assert len(services.resolved_configs) == 1 + len(variants)
    with pytest.raises(GatewayError):  # a bad header is still refused, and not kept
        await planned({**base, "x-portkey-request-timeout": "0"}, services)
    assert len(services.resolved_configs) == 1 + len(variants)


async def test_saved_configs_are_not_memoised():
    current = {"c": config_from_object({"provider": "groq", "api_key": "gsk-1"})}

    async def lookup(config_id):
        return current["c"]

    services = Services(
        settings=SERVICES.settings, providers=SERVICES.providers, saved_config=lookup
    )
    assert (await planned({"x-portkey-config": "pc-mine-abc123"}, services)).api_key == "gsk-1"
    current["c"] = config_from_object({"provider": "groq", "api_key": "gsk-2"})
    assert (await planned({"x-portkey-config": "pc-mine-abc123"}, services)).api_key == "gsk-2"
    assert services.resolved_configs == {}
