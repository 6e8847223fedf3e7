"""OpenAI."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("openai", "https://api.openai.com/v1")
