"""DeepInfra (OpenAI-compatible root)."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("deepinfra", "https://api.deepinfra.com/v1/openai")
