"""The one provider registry: slug → spec. A new provider is one module plus one line here."""

from __future__ import annotations

import importlib

from proxy.providers.base import ProviderSpec

# One line per provider module (proxy/providers/<name>.py, which defines SPEC).
_MODULES = (
    "openai",
    "azure_openai",
    "anyscale",
    "together_ai",
    "groq",
    "mistral_ai",
    "deepseek",
    "perplexity_ai",
    "fireworks_ai",
    "openrouter",
    "deepinfra",
    "ollama",
    "x_ai",
    "cerebras",
    "nvidia_nim",
    "vllm",
    "anthropic",
)
REGISTRY: dict[str, ProviderSpec] = {
    spec.slug: spec
    for spec in (importlib.import_module(f"proxy.providers.{m}").SPEC for m in _MODULES)
}
ALIASES = {"custom": "vllm", "nvidia": "nvidia-nim", "azure": "azure-openai"}


def registry_with_overrides(base_urls: dict[str, str | None]) -> dict[str, ProviderSpec]:
    """The registry with base URLs replaced from settings (``[providers.<slug>] base_url``)."""
    out = dict(REGISTRY)
    for slug, url in base_urls.items():
        slug = ALIASES.get(slug, slug)
        if slug in out and url:
            out[slug] = out[slug].with_base_url(url.rstrip("/"))
    for alias, slug in ALIASES.items():
        out.setdefault(alias, out[slug])
    return out
