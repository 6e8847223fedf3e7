"""Together AI."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("together-ai", "https://api.together.xyz/v1")
