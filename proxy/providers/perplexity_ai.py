"""Perplexity (its OpenAI API has no /v1 prefix)."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("perplexity-ai", "https://api.perplexity.ai")
