"""Cost of a request from a price table: shipped ``prices.json``, overridable by settings.

Lookup: the provider's table, exact model first, then the longest key the model starts with
(``gpt-4o-2024-08-06`` → ``gpt-4o``); then the same over every provider (Azure, OpenRouter and
friends serve the same model names). Unknown model → no cost (NULL), never a guess.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from proxy.logstore.settings import LogSettings

Table = dict[str, dict[str, tuple[float, float]]]


def _load_shipped() -> Table:
    raw = json.loads(resources.files("proxy.logstore").joinpath("prices.json").read_text())
    return _norm(raw)


def _norm(raw: dict) -> Table:
    out: Table = {}
    for provider, models in raw.items():
        if provider.startswith("_") or not isinstance(models, dict):
            continue
        for model, p in models.items():
            if isinstance(p, dict):
                inp, outp = float(p.get("input", 0.0)), float(p.get("output", 0.0))
            else:  # a Price struct
                inp, outp = p.input, p.output
            out.setdefault(provider, {})[model] = (inp, outp)
    return out


class Prices:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._memo: dict[tuple[str | None, str], tuple[float, float] | None] = {}

    @classmethod
    def from_settings(cls, settings: LogSettings) -> Prices:
        table = _load_shipped()
        extra: list[Table] = []
        if settings.prices_file:
            extra.append(_norm(json.loads(Path(settings.prices_file).read_text())))
        if settings.prices:
            extra.append(_norm(settings.prices))
        for t in extra:
            for provider, models in t.items():
                table.setdefault(provider, {}).update(models)
        return cls(table)

    def lookup(self, provider: str | None, model: str) -> tuple[float, float] | None:
        key = (provider, model)
        if key in self._memo:
            return self._memo[key]
        found = None
        if provider in self._table:
            found = _match(self._table[provider], model)
        if found is None:
            for models in self._table.values():
                found = _match(models, model)
                if found is not None:
                    break
        if len(self._memo) < 4096:
            self._memo[key] = found
        return found

    def cost(
        self, provider: str | None, model: str | None, prompt: int | None, completion: int | None
    ) -> float | None:
        if not model or (prompt is None and completion is None):
            return None
        price = self.lookup(provider, model)
        if price is None:
            return None
        return ((prompt or 0) * price[0] + (completion or 0) * price[1]) / 1_000_000


def _match(models: dict[str, tuple[float, float]], model: str) -> tuple[float, float] | None:
    if model in models:
        return models[model]
    best = None
    for name in models:
        if model.startswith(name) and (best is None or len(name) > len(best)):
            best = name
    return models[best] if best is not None else None
