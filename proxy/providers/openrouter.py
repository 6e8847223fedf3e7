"""OpenRouter."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("openrouter", "https://openrouter.ai/api/v1")
