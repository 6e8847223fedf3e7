"""The Config object: one typed tree, built from every form a client may send, in one place.

Wire forms accepted (see shared/spec §2):
- current: ``strategy`` + ``targets`` (nesting), ``provider``/``api_key``/``custom_host`` …
- legacy (Configs 1.0): ``mode`` + ``options``, integer ``retry``, string ``cache``,
  ``cache_age: "max-age=N"``; ``ab_test`` is load balancing.
- camelCase keys (``apiKey``, ``overrideParams`` …) as Portkey's gateway also accepts.

`parse_config` turns JSON bytes into a `Target`; `resolve` applies inheritance (a child inherits
retry, cache, custom host, forward headers and timeout from its nearest ancestor, and merges the
parents' ``override_params`` under its own) and validates the tree, so the code that runs a
request never has to look up the tree.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

StatusCode = Annotated[int, Meta(ge=100, le=599)]
MAX_RETRY_ATTEMPTS = 5
DEFAULT_RETRY_STATUS = (429, 500, 502, 503, 504)


class _Wire(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every config struct: immutable, keyword-only, unknown keys tolerated."""


class RetryConfig(_Wire):
    attempts: Annotated[int, Meta(ge=0)] = 0
    """Retries after the first try (total calls = attempts + 1); clamped to 5."""
    on_status_codes: list[StatusCode] | None = None
    use_retry_after_header: bool = True


class CacheConfig(_Wire):
    mode: Literal["simple", "semantic"] = "simple"
    max_age: Annotated[int, Meta(ge=0)] | None = None
    """Seconds an entry stays fresh (None: the cache's default)."""


class Condition(_Wire):
    query: dict[str, Any]
    then: str


class StrategyConfig(_Wire):
    mode: Literal["single", "fallback", "loadbalance", "conditional"] = "single"
    on_status_codes: list[StatusCode] | None = None
    conditions: list[Condition] | None = None
    default: str | None = None


class Target(_Wire):
    """A config node: a leaf (one provider call) or a strategy over child targets."""

    provider: str | None = None
    api_key: str | None = msgspec.field(default=None)
    virtual_key: str | None = None
    custom_host: str | None = None
    override_params: dict[str, Any] | None = None
    forward_headers: list[str] | None = None
    request_timeout: Annotated[int, Meta(ge=1)] | None = None
    """Milliseconds per attempt; exceeding it answers 408."""
    retry: RetryConfig | None = None
    cache: CacheConfig | None = None
    strategy: StrategyConfig | None = None
    targets: list[Target] | None = None
    weight: Annotated[float, Meta(ge=0)] = 1.0
    name: str | None = None
    on_status_codes: list[StatusCode] | None = None
    """Under a fallback: the statuses on which to move on past *this* target (replaces the
    strategy's list for it). Not inherited."""
    strict_open_ai_compliance: bool | None = None
    # Azure OpenAI (config form of the x-portkey-azure-* headers).
    resource_name: str | None = None
    deployment_id: str | None = None
    api_version: str | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.targets

    def __repr__(self) -> str:  # never print a key
        shown = {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if getattr(self, f) not in (None, 1.0) and f != "api_key"
        }
        if self.api_key:
            shown["api_key"] = "***"
        return f"Target({shown})"


class ConfigError(ValueError):
    """A config that does not validate; ``str()`` names the path of the bad field."""


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_OPAQUE_KEYS = frozenset({"override_params", "query", "metadata", "params"})
_TYPE_WORDS = {
    "number": "a number",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}
_MSGSPEC_ERR = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower() if not key.islower() else key


def _snake_keys(value: Any) -> Any:
    """camelCase → snake_case for config keys, leaving user payloads (override_params …) alone."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            sk = _snake(k) if isinstance(k, str) else k
            out[sk] = v if sk in _OPAQUE_KEYS else _snake_keys(v)
        return out
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


_MAX_AGE = re.compile(r"max-age\s*[=:]\s*(\d+)")


def _legacy_to_current(raw: dict[str, Any]) -> dict[str, Any]:
    """Configs 1.0 → current shape, recursively (legacy has no nesting, but be generous)."""
    out = dict(raw)
    if "options" in out and "targets" not in out:
        out["targets"] = out.pop("options")
    if "mode" in out and "strategy" not in out:
        mode = out.pop("mode")
        if mode == "ab_test":
            mode = "loadbalance"
        out["strategy"] = {"mode": mode}
    retry = out.get("retry")
    if isinstance(retry, int) and not isinstance(retry, bool):
        out["retry"] = {"attempts": retry}
    cache = out.get("cache")
    if isinstance(cache, str):
        out["cache"] = {"mode": cache}
    elif cache is True:
        out["cache"] = {"mode": "simple"}
    elif cache is False:
        out.pop("cache")
    age = out.pop("cache_age", None)
    if age is not None and isinstance(out.get("cache"), dict):
        m = _MAX_AGE.search(str(age))
        seconds = int(m.group(1)) if m else age
        out["cache"] = {**out["cache"], "max_age": seconds}
    if isinstance(out.get("retry"), dict) and "use_retry_after_headers" in out["retry"]:
        r = dict(out["retry"])
        r["use_retry_after_header"] = r.pop("use_retry_after_headers")
        out["retry"] = r
    if isinstance(out.get("targets"), list):
        out["targets"] = [
            _legacy_to_current(t) if isinstance(t, dict) else t for t in out["targets"]
        ]
    return out


def _path_text(path: str) -> str:
    return path[1:] if path.startswith(".") else path


def _explain(err: msgspec.ValidationError) -> str:
    m = _MSGSPEC_ERR.match(str(err))
    msg, path = (m.group("msg"), m.group("path") or "") if m else (str(err), "")
    t = re.match(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`", msg)
    if t:
        want = " or ".join(_TYPE_WORDS.get(w.strip(), w.strip()) for w in t["want"].split("|"))
        msg = f"expected {want}, got {_TYPE_WORDS.get(t['got'], t['got'])}"
    else:  # "Expected `float` >= 0.0" → "expected a number >= 0"
        msg = re.sub(r"`(\w+)`", lambda w: _TYPE_WORDS.get(w[1], w[1]), msg)
        msg = re.sub(r"(\d+)\.0\b", r"\1", msg)
        msg = msg[:1].lower() + msg[1:]
    where = _path_text(path)
    return f"{where}: {msg}" if where else msg


def config_from_object(raw: Any) -> Target:
    """A decoded JSON value (dict) → `Target`, or `ConfigError` naming the bad field's path."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a JSON object")
    try:
        return msgspec.convert(_legacy_to_current(_snake_keys(raw)), Target)
    except msgspec.ValidationError as e:
        raise ConfigError(_explain(e)) from None
    except RecursionError:
        raise ConfigError(_TOO_DEEP) from None


_TOO_DEEP = "config: nested too deeply"
MAX_DEPTH = 16
"""Strategy nodes deeper than this are refused (a config is written by hand, not generated)."""


def parse_config(data: bytes | str) -> Target:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ConfigError("config is not valid JSON") from None
    except RecursionError:
        raise ConfigError(_TOO_DEEP) from None
    return config_from_object(raw)


_INHERITED = (
    "retry",
    "cache",
    "custom_host",
    "forward_headers",
    "request_timeout",
    "strict_open_ai_compliance",
)


def resolve(
    node: Target,
    *,
    known_providers: frozenset[str] | set[str] | dict[str, Any],
    parent: Target | None = None,
    path: str = "",
) -> Target:
    """Apply inheritance and validate the tree; errors name the path (``targets[1].provider``)."""
    changes: dict[str, Any] = {}
    if parent is not None:
        for f in _INHERITED:
            if getattr(node, f) is None and getattr(parent, f) is not None:
                changes[f] = getattr(parent, f)
        if parent.override_params:
            changes["override_params"] = {**parent.override_params, **(node.override_params or {})}
        # A target without a provider takes its parent's, and the parent's key with it; a target
        # naming another provider never sees that key.
        provider = node.provider or parent.provider
        if node.provider is None and provider is not None:
            changes["provider"] = provider
        if node.api_key is None and parent.api_key is not None and provider == parent.provider:
            changes["api_key"] = parent.api_key
    if node.retry is not None and node.retry.attempts > MAX_RETRY_ATTEMPTS:
        changes["retry"] = msgspec.structs.replace(node.retry, attempts=MAX_RETRY_ATTEMPTS)
    if changes:
        node = msgspec.structs.replace(node, **changes)
    where = path or "config"
    if path.count("targets[") > MAX_DEPTH:
        raise ConfigError(f"{where}: strategies nested deeper than {MAX_DEPTH} levels")
    if node.is_leaf:
        if node.strategy is not None and node.strategy.mode != "single":
            raise ConfigError(
                f"{_join(path, 'targets')}: strategy '{node.strategy.mode}' needs targets"
            )
        if node.provider is None:
            raise ConfigError(f"{where}: a target needs a provider (or strategy and targets)")
        if node.provider not in known_providers:
            raise ConfigError(f"{_join(path, 'provider')}: unknown provider '{node.provider}'")
    else:
        mode = node.strategy.mode if node.strategy else "single"
        assert node.targets is not None
        kids = [
            resolve(
                t, known_providers=known_providers, parent=node, path=_join(path, f"targets[{i}]")
            )
            for i, t in enumerate(node.targets)
        ]
        if mode == "loadbalance" and not any(k.weight > 0 for k in kids):
            raise ConfigError(f"{_join(path, 'targets')}: every weight is 0, nothing can be chosen")
        if mode == "conditional":
            names = {k.name for k in kids if k.name}
            strat = node.strategy
            assert strat is not None
            if not strat.conditions:
                raise ConfigError(
                    f"{_join(path, 'strategy.conditions')}: conditional needs conditions"
                )
            from strategies.conditional import check_query

            for i, c in enumerate(strat.conditions):
                check_query(c.query, _join(path, f"strategy.conditions[{i}].query"))
                if c.then not in names:
                    raise ConfigError(
                        f"{_join(path, f'strategy.conditions[{i}].then')}: no target named '{c.then}'"
                    )
            if strat.default is not None and strat.default not in names:
                raise ConfigError(
                    f"{_join(path, 'strategy.default')}: no target named '{strat.default}'"
                )
        node = msgspec.structs.replace(node, targets=kids)
    if node.custom_host is not None:
        check_custom_host(node.custom_host, _join(path, "custom_host"))
    return node


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


_HOST_OK = re.compile(r"^https?://[^\s/@]+(?::\d+)?(/[^\s]*)?$", re.I)


def check_custom_host(url: str, where: str = "custom_host") -> None:
    """An http(s) URL without credentials; anything else is rejected (400)."""
    if not _HOST_OK.match(url):
        raise ConfigError(
            f"{where}: invalid custom host '{url[:200]}' (expected http(s)://host[:port][/path])"
        )
