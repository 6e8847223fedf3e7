"""xAI."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("x-ai", "https://api.x.ai/v1")
