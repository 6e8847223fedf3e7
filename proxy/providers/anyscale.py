"""Anyscale Endpoints."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("anyscale", "https://api.endpoints.anyscale.com/v1")
