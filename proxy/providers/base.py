"""What the gateway needs to know to call one provider: where, and how the key is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from proxy.chain import Call
    from proxy.config import Target

AuthStyle = Literal["bearer", "api-key", "x-api-key", "none"]
UrlBuilder = Callable[["ProviderSpec", "Target", "Call", str], str]


class ProviderSpec(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    """The wire slug, as in ``x-portkey-provider``."""
    base_url: str | None
    """OpenAI-compatible root: ``/v1/<rest>`` of a request goes to ``base_url/<rest>``.
    None: the provider has no public endpoint and needs a custom host (ollama, vllm)."""
    auth: AuthStyle = "bearer"
    custom_host_suffix: str = ""
    """Appended to a bare custom host (ollama serves its OpenAI API under ``/v1``)."""
    default_headers: tuple[tuple[str, str], ...] = ()
    """Sent upstream unless the client sent its own value."""
    build_url: UrlBuilder | None = None
    """For providers whose URL is not ``base + path`` (azure-openai)."""

    def with_base_url(self, base_url: str) -> ProviderSpec:
        return msgspec.structs.replace(self, base_url=base_url)


def openai_compatible(slug: str, base_url: str | None, **kw: object) -> ProviderSpec:
    """A provider that speaks the OpenAI API with a Bearer key: the common case."""
    return ProviderSpec(slug=slug, base_url=base_url, **kw)  # type: ignore[arg-type]
