"""The config tree: one structure from every wire form, inheritance, and errors with paths."""

from __future__ import annotations

import json

import pytest

from proxy.config import ConfigError, config_from_object, parse_config, resolve
from proxy.providers import REGISTRY


def tree(raw):
    return resolve(config_from_object(raw), known_providers=REGISTRY)


def error(raw):
    with pytest.raises(ConfigError) as e:
        tree(raw) if isinstance(raw, dict) else resolve(parse_config(raw), known_providers=REGISTRY)
    return str(e.value)


CURRENT = {
    "strategy": {"mode": "fallback"},
    "retry": {"attempts": 3},
    "cache": {"mode": "semantic", "max_age": 3600},
    "targets": [
        {"provider": "openai", "api_key": "sk-a", "override_params": {"model": "gpt-4o"}},
        {"provider": "groq", "api_key": "gsk-b", "weight": 0.5},
    ],
}


def test_legacy_camel_and_current_forms_build_the_same_tree():
    legacy = {
        "mode": "fallback",
        "retry": 3,
        "cache": "semantic",
        "cache_age": "max-age=3600",
        "options": [
            {"provider": "openai", "api_key": "sk-a", "override_params": {"model": "gpt-4o"}},
            {"provider": "groq", "apiKey": "gsk-b", "weight": 0.5},
        ],
    }
    camel = {
        "strategy": {"mode": "fallback"},
        "retry": {"attempts": 3},
        "cache": {"mode": "semantic", "maxAge": 3600},
        "targets": [
            {"provider": "openai", "apiKey": "sk-a", "overrideParams": {"model": "gpt-4o"}},
            {"provider": "groq", "apiKey": "gsk-b", "weight": 0.5},
        ],
    }
    assert tree(legacy) == tree(CURRENT) == tree(camel)


def test_ab_test_is_loadbalance_and_legacy_retry_object_is_kept():
    t = tree({"mode": "ab_test", "options": [{"provider": "openai", "retry": {"attempts": 2}}]})
    assert t.strategy.mode == "loadbalance" and t.targets[0].retry.attempts == 2


def test_children_inherit_retry_cache_timeout_and_merge_override_params():
    t = tree(
        {
            "retry": {"attempts": 2},
            "request_timeout": 500,
            "override_params": {"model": "base", "temperature": 0},
            "strategy": {"mode": "fallback"},
            "targets": [
                {"provider": "openai", "override_params": {"model": "gpt-4o"}},
                {"provider": "groq", "retry": {"attempts": 0}, "request_timeout": 50},
            ],
        }
    )
    a, b = t.targets
    assert a.retry.attempts == 2 and a.request_timeout == 500
    assert a.override_params == {"model": "gpt-4o", "temperature": 0}
    assert b.retry.attempts == 0 and b.request_timeout == 50
    assert b.override_params == {"model": "base", "temperature": 0}


def test_a_targets_key_host_and_params_stay_with_that_target():
    t = tree(
        {
            "strategy": {"mode": "loadbalance"},
            "targets": [
                {
                    "provider": "openai",
                    "api_key": "sk-a",
                    "custom_host": "http://127.0.0.1:1/v1",
                    "override_params": {"model": "a"},
                },
                {"provider": "groq", "api_key": "gsk-b"},
            ],
        }
    )
    a, b = t.targets
    assert (a.api_key, a.custom_host, a.override_params) == (
        "sk-a",
        "http://127.0.0.1:1/v1",
        {"model": "a"},
    )
    assert (b.api_key, b.custom_host, b.override_params) == ("gsk-b", None, None)


def test_provider_and_key_flow_down_but_never_to_another_provider():
    t = tree(
        {
            "provider": "openai",
            "api_key": "sk-parent",
            "strategy": {"mode": "fallback"},
            "targets": [
                {"override_params": {"model": "a"}},
                {"strategy": {"mode": "single"}, "targets": [{"override_params": {"model": "b"}}]},
                {"provider": "groq"},
                {"provider": "openai"},
            ],
        }
    )
    a, nested, groq, openai = t.targets
    assert (a.provider, a.api_key) == ("openai", "sk-parent")
    assert (nested.targets[0].provider, nested.targets[0].api_key) == ("openai", "sk-parent")
    assert (groq.provider, groq.api_key) == ("groq", None)
    assert (openai.provider, openai.api_key) == ("openai", "sk-parent")


def test_errors_name_the_path():
    lb = {"strategy": {"mode": "loadbalance"}}
    assert error(
        {**lb, "targets": [{"provider": "openai"}, {"provider": "openai", "weight": "x"}]}
    ) == ("targets[1].weight: expected a number, got a string")
    assert error({**lb, "targets": [{"provider": "openai", "weight": -1}]}) == (
        "targets[0].weight: expected a number >= 0"
    )
    assert error({"provider": "openai", "retry": {"attempts": -2}}) == (
        "retry.attempts: expected an integer >= 0"
    )
    assert error({"provider": "openai", "retry": {"on_status_codes": [42]}}) == (
        "retry.on_status_codes[0]: expected an integer >= 100"
    )
    assert error({"strategy": {"mode": "fallback"}, "targets": [{"provider": "nope"}]}) == (
        "targets[0].provider: unknown provider 'nope'"
    )
    assert error({"strategy": {"mode": "fallback"}, "targets": [{"api_key": "k"}]}).startswith(
        "targets[0]: a target needs a provider"
    )
    assert error({**lb, "targets": [{"provider": "openai", "weight": 0}]}).startswith("targets:")
    assert error({"strategy": {"mode": "fallback"}}) == "targets: strategy 'fallback' needs targets"
    assert error({"provider": "openai", "custom_host": "ftp://x"}).startswith("custom_host:")
    assert error({"strategy": {"mode": "sideways"}, "targets": []}).startswith("strategy.mode:")
    assert error(b"{not json") == "config is not valid JSON"
    assert error(b"[1]") == "config: expected a JSON object"


def test_deep_nesting_is_a_config_error_not_a_crash():
    deep = '{"targets":[' * 3000 + '{"provider":"openai"}' + "]}" * 3000
    assert "nested too deeply" in error(deep.encode())
    deep = '{"targets":[' * 40 + '{"provider":"openai"}' + "]}" * 40
    assert "nested deeper than" in error(deep.encode())


def test_errors_never_echo_a_key():
    secret = "sk-secret-000111"
    raw = json.dumps({"provider": "openai", "api_key": secret, "weight": "x", "retry": "y"})
    assert secret not in error(raw.encode())
    assert secret not in repr(tree({"provider": "openai", "api_key": secret}))
