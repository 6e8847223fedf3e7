"""Lockgate's response cache: exact (simple) and semantic, persistent, streaming-aware.

Public API: `open_cache` (start-up) → `CacheService` (``.layer``, ``.stats()``, ``.clear()``,
``.close()``), configured by `CacheSettings`.
"""

from cache.layer import CacheService
from cache.settings import CacheSettings
from cache.startup import open_cache

__all__ = ["CacheService", "CacheSettings", "open_cache"]
