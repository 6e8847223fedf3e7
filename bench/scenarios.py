"""What the benchmark measures: one `Scenario` per kind of request, in one list.

Each scenario gives up to two rows: ``direct`` (the same request sent straight to the fake
upstream: the limit) and ``lockgate`` (through the gateway). The gateway row is compared with the
direct row of the scenario named in ``compare_to`` (itself by default), so a scenario without a
direct equivalent (a fallback whose first target fails, a cache hit) still shows what it adds.

Adding a row is one line in `SCENARIOS` (or `OPTIONAL`, which runs only when named in
``BENCH_SCENARIOS``), for example gateway settings that differ (each distinct ``settings`` text
gets its own gateway process)::

    Scenario("log-off", direct=False, compare_to="chat", settings="[logs]\nenabled = false\n"),
 ``$UPSTREAM`` in header values and in ``settings`` is replaced by the fake
upstream's base URL (``http://127.0.0.1:PORT``). The fake upstream answers 503 at once under
``/fail`` and for the model ``bench-503`` (see `bench.upstream`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench import payloads
from bench.cache_seed import SemanticSeed

UPSTREAM = "$UPSTREAM"

GATEWAY_HEADERS: dict[str, str] = {
    "x-portkey-provider": "openai",
    "x-portkey-custom-host": UPSTREAM + "/v1",
}
"""Sent to the gateway on every row unless a scenario overrides or drops (None) them."""
AUTH = {"Authorization": "Bearer sk-bench"}
"""Sent on every request, direct or not."""


@dataclass(frozen=True)
class Scenario:
    """One kind of request, measured direct and through the gateway."""

    name: str
    body: bytes = payloads.CHAT
    stream: bool = False
    """Streamed answers are measured with the load client (req/s, latency and TTFB)."""
    path: str = payloads.CHAT_PATH
    headers: Mapping[str, str | None] = field(default_factory=dict)
    """Extra gateway headers, over `GATEWAY_HEADERS`; a None value drops a default header."""
    settings: str = ""
    """TOML text for ``lockgate serve --settings``; rows with other settings get their own gateway."""
    direct: bool = True
    """Also measure the same request sent straight to the upstream."""
    compare_to: str | None = None
    """The scenario whose direct row this gateway row is compared with (default: this one)."""
    expect: Mapping[str, str] = field(default_factory=dict)
    """Response headers the gateway's answer must carry (checked on a second probe request, so
    a cache is primed); the row is skipped, with the reason, when they are missing."""
    seed: SemanticSeed | None = None
    """Fill the gateway's semantic cache before measuring (see `bench.cache_seed`); the row
    gets its own gateway process."""

    def gateway_headers(self, upstream: str) -> dict[str, str]:
        merged: dict[str, str | None] = {**GATEWAY_HEADERS, **self.headers}
        out = {k: v.replace(UPSTREAM, upstream) for k, v in merged.items() if v is not None}
        return {**AUTH, **out}

    def direct_headers(self) -> dict[str, str]:
        return dict(AUTH)

    def settings_text(self, upstream: str) -> str:
        return self.settings.replace(UPSTREAM, upstream)

    @property
    def baseline(self) -> str | None:
        if self.compare_to:
            return self.compare_to
        return self.name if self.direct else None


def fallback_config(first: str = UPSTREAM + payloads.FAIL_PREFIX + "/v1") -> str:
    """An ``x-portkey-config`` whose first target answers 503 and whose second one works."""
    return json.dumps(
        {
            "strategy": {"mode": "fallback"},
            "targets": [
                {"provider": "openai", "api_key": "sk-bench", "custom_host": first},
                {"provider": "openai", "api_key": "sk-bench", "custom_host": UPSTREAM + "/v1"},
            ],
        },
        separators=(",", ":"),
    )


def cache_config(mode: str) -> str:
    """An ``x-portkey-config`` for the fake upstream with the response cache on."""
    return json.dumps(
        {
            "provider": "openai",
            "api_key": "sk-bench",
            "custom_host": UPSTREAM + "/v1",
            "cache": {"mode": mode},
        },
        separators=(",", ":"),
    )


def cached(mode: str) -> dict[str, str | None]:
    """Gateway headers for a cached row: the config replaces the provider headers."""
    return {
        "x-portkey-config": cache_config(mode),
        "x-portkey-provider": None,
        "x-portkey-custom-host": None,
    }


SIMPLE_CACHE = cache_config("simple")
SEMANTIC_SETTINGS = "[cache]\nmax_entries = 200000\nembed_cache_entries = 0\n"
"""Room for the 100k seeded entries; no embedding LRU, so every request runs the model."""

SCENARIOS: list[Scenario] = [
    Scenario("chat"),
    Scenario("chat-stream", body=payloads.CHAT_STREAM, stream=True),
    Scenario(
        "fallback",
        direct=False,
        compare_to="chat",
        headers={
            "x-portkey-config": fallback_config(),
            "x-portkey-provider": None,
            "x-portkey-custom-host": None,
        },
        expect={"x-portkey-last-used-option-index": "config.targets[1]"},
    ),
    # the same traffic as "chat" with the request log off: the cost of logging
    Scenario("log-off", direct=False, compare_to="chat", settings="[logs]\nenabled = false\n"),
    # answered from the memory LRU: what a simple-cache hit costs end to end
    Scenario(
        "cache-hit",
        direct=False,
        compare_to="chat",
        headers=cached("simple"),
        expect={"x-portkey-cache-status": "HIT"},
    ),
    # a paraphrase's answer found among 100k+1 vectors, the prompt embedded on every request
    Scenario(
        "semantic-hit",
        direct=False,
        compare_to="chat",
        headers=cached("semantic"),
        settings=SEMANTIC_SETTINGS,
        seed=SemanticSeed(100_000),
        expect={"x-portkey-cache-status": "SEMANTIC HIT"},
    ),
]
"""Run by default (``make bench``)."""

OPTIONAL: list[Scenario] = []
"""Run only when named, e.g. ``BENCH_SCENARIOS=chat,fallback`` (``all`` runs every scenario)."""


def select(spec: str | None) -> list[Scenario]:
    """The scenarios named in ``spec`` (comma-separated, or ``all``); the defaults if empty.

    A named scenario's ``compare_to`` baseline is added in front if it was not named.
    """
    every = {s.name: s for s in SCENARIOS + OPTIONAL}
    if not spec:
        return list(SCENARIOS)
    if spec.strip() == "all":
        return list(every.values())
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in every]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {sorted(every)}")
    for n in list(names):
        base = every[n].compare_to
        if base and base not in names:
            names.insert(0, base)
    return [every[n] for n in dict.fromkeys(names)]
