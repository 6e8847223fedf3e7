"""NVIDIA NIM (hosted API catalog; self-hosted NIM via custom host)."""

from proxy.providers.base import openai_compatible

SPEC = openai_compatible("nvidia-nim", "https://integrate.api.nvidia.com/v1")
