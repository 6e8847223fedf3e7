"""``lockgate cache stats|clear [--namespace NS]``.

A running gateway is asked through its admin API (``--url``, default the local gateway), so its
in-memory copy is emptied too; when no gateway answers there, the cache file under ``--data-dir``
is read or emptied directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8787"


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cache", help="show or empty the response cache")
    p.add_argument("action", choices=("stats", "clear"))
    p.add_argument("--namespace", help="only this namespace (clear)")
    p.add_argument("--url", default=DEFAULT_URL, help=f"a running gateway (default {DEFAULT_URL})")
    p.add_argument(
        "--data-dir",
        dest="data_dir",
        default="./data",
        help="used when no gateway answers at --url (default ./data)",
    )
    p.add_argument("--settings", help="TOML settings file (for the cache file name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = _over_http(args)
        where = args.url
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        result = asyncio.run(_on_file(args))
        where = str(Path(args.data_dir))
    if args.action == "clear":
        ns = f" in namespace '{args.namespace}'" if args.namespace else ""
        print(f"removed {result['removed']} entries{ns} ({where})")
    else:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:<{width}}  {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    return 0


def _over_http(args: argparse.Namespace) -> dict[str, Any]:
    base = args.url.rstrip("/")
    if args.action == "stats":
        req = urllib.request.Request(base + "/v1/cache/stats")
    else:
        qs = "?" + urllib.parse.urlencode({"namespace": args.namespace}) if args.namespace else ""
        req = urllib.request.Request(base + "/v1/cache" + qs, method="DELETE")
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - the user's own gateway
        return json.loads(r.read())


async def _on_file(args: argparse.Namespace) -> dict[str, Any]:
    import msgspec

    from cache.store import EntryStore
    from proxy.cache_feature import cache_settings
    from proxy.settings import load_settings

    settings = cache_settings(load_settings(args.settings).cache)
    store = await EntryStore.open(Path(args.data_dir) / settings.filename)
    try:
        if args.action == "clear":
            return {"removed": await store.clear(args.namespace)}
        return msgspec.to_builtins(await store.stats())
    finally:
        await store.close()
