"""Cerebras."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("cerebras", "https://api.cerebras.ai/v1")
