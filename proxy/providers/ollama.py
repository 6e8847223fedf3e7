"""Ollama: local only, so a custom host is required; its OpenAI API lives under /v1."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("ollama", None, auth="none", custom_host_suffix="/v1")
