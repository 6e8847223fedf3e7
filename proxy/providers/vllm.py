"""vLLM (and any other self-hosted OpenAI-compatible server): the custom host is the root."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("vllm", None)
