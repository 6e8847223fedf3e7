"""Groq."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("groq", "https://api.groq.com/openai/v1")
