"""Mistral AI."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("mistral-ai", "https://api.mistral.ai/v1")
