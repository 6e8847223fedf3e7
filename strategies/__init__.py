"""Strategy registry: mode → strategy. A new strategy is one module plus one line here."""

from __future__ import annotations

from strategies.base import Strategy
from strategies.conditional import conditional
from strategies.fallback import fallback
from strategies.loadbalance import loadbalance
from strategies.single import single

STRATEGIES: dict[str, Strategy] = {
    "single": single,
    "fallback": fallback,
    "loadbalance": loadbalance,
    "conditional": conditional,
}
