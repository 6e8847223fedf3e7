"""Anthropic, passed through on its own API shape (/v1/messages); key in x-api-key."""

from proxy.providers.base import ProviderSpec

SPEC = ProviderSpec(
    slug="anthropic",
    base_url="https://api.anthropic.com/v1",
    auth="x-api-key",
    default_headers=(("anthropic-version", "2023-06-01"),),
)
