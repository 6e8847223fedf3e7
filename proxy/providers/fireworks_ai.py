"""Fireworks AI."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("fireworks-ai", "https://api.fireworks.ai/inference/v1")
