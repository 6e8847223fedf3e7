"""Secrets in config bodies shown to people: masked in API and CLI output, kept on a round trip.

``sk-live-1234abcd`` is shown as ``sk-…abcd``: enough to tell two keys apart, not enough to use
one. A body fetched, edited and sent back keeps each secret whose masked form was left as shown.
"""

from __future__ import annotations

import re
from typing import Any

# Values masked in every output (API and CLI); matched on snake_case or camelCase keys.
SECRET_KEYS = frozenset(
    {
        "api_key",
        "aws_secret_access_key",
        "aws_session_token",
        "azure_ad_token",
        "azure_entra_client_secret",
        "vertex_service_account_json",
    }
)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def mask_value(value: Any) -> Any:
    """``sk-live-1234abcd`` → ``sk-…abcd``; short or non-string secrets → ``…``."""
    if isinstance(value, str) and len(value) >= 12:
        return f"{value[:3]}…{value[-4:]}"
    return "…" if value else value


def masked(value: Any) -> Any:
    """A copy of a config body with every secret value masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: mask_value(v) if _snake(str(k)) in SECRET_KEYS else masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def keep_masked(new: Any, old: Any) -> Any:
    """A body sent back as shown (masked) keeps the stored secret where the mask matches it."""
    if isinstance(new, dict) and isinstance(old, dict):
        out = {}
        for k, v in new.items():
            prev = old.get(k)
            if _snake(str(k)) in SECRET_KEYS and v is not None and v == mask_value(prev):
                out[k] = prev
            else:
                out[k] = keep_masked(v, prev)
        return out
    if isinstance(new, list) and isinstance(old, list):
        return [keep_masked(n, o) for n, o in zip(new, old, strict=False)] + new[len(old) :]
    return new
