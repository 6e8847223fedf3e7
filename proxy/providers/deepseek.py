"""DeepSeek."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("deepseek", "https://api.deepseek.com/v1")
