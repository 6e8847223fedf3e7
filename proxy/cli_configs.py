"""``lockgate configs``: saved configs from the command line, straight on the SQLite file.

    lockgate configs create [JSON | --file F] [--name N] [--id pc-…]
    lockgate configs list
    lockgate configs show ID [--version N | --versions]
    lockgate configs update ID [JSON | --file F] [--name N]
    lockgate configs delete ID

Each takes ``--data-dir`` and ``--settings`` like ``serve`` (the settings give the provider list
a config is validated against). A running gateway notices CLI changes within its refresh period
(2 s). Secret values are masked in everything printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from proxy.admin_configs import shown
from proxy.configstore import ConfigStore, StoreError, db_path


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from proxy.cli import add_common

    top = sub.add_parser("configs", help="saved configs (x-portkey-config: pc-…)")
    cmds = top.add_subparsers(dest="configs_command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help)
        add_common(p)
        p.set_defaults(func=run)
        return p

    p = command("create", "save a new config")
    p.add_argument("config", nargs="?", help="the config as inline JSON (or use --file)")
    p.add_argument("--file", help="read the config from this JSON file ('-': stdin)")
    p.add_argument("--name", help="a readable name (also the id's slug)")
    p.add_argument("--id", dest="config_id", help="choose the id yourself (pc-…)")
    command("list", "list saved configs")
    p = command("show", "show a config (secrets masked)")
    p.add_argument("id")
    p.add_argument("--version", type=int, help="an earlier version")
    p.add_argument("--versions", action="store_true", help="list the versions instead")
    p = command("update", "save a new version of a config")
    p.add_argument("id")
    p.add_argument("config", nargs="?", help="the config as inline JSON (or use --file)")
    p.add_argument("--file", help="read the config from this JSON file ('-': stdin)")
    p.add_argument("--name", help="rename it")
    p = command("delete", "delete a config and its history")
    p.add_argument("id")


def run(args: argparse.Namespace) -> int:
    from proxy.providers import registry_with_overrides
    from proxy.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.settings, data_dir=args.data_dir)
        providers = registry_with_overrides({k: v.base_url for k, v in settings.providers.items()})
        store = ConfigStore(db_path(settings.data_dir), providers)
        return asyncio.run(_run(args, store))
    except (SettingsError, StoreError, OSError) as e:
        print(f"lockgate configs: {getattr(e, 'message', e)}", file=sys.stderr)
        return 2 if getattr(e, "status", 400) != 404 else 1


async def _run(args: argparse.Namespace, store: ConfigStore) -> int:
    await store.open()
    try:
        return await _dispatch(args, store)
    finally:
        await store.close()


async def _dispatch(args: argparse.Namespace, store: ConfigStore) -> int:
    what = args.configs_command
    if what == "create":
        saved = await store.create(_config_arg(args), name=args.name, config_id=args.config_id)
        print(f"created {saved.id} (version 1)")
    elif what == "list":
        rows = [shown(s) for s in await store.list()]
        _table(rows, ("id", "version", "updated_at", "name"), "no saved configs")
    elif what == "show" and args.versions:
        versions = await store.versions(args.id)
        if versions is None:
            raise StoreError(404, f"no saved config with id '{args.id}'")
        _table([shown(v) for v in versions], ("version", "created_at", "name"), "")
    elif what == "show":
        saved = await store.get(args.id, args.version)
        if saved is None:
            suffix = f" version {args.version}" if args.version is not None else ""
            raise StoreError(404, f"no saved config with id '{args.id}'{suffix}")
        out = shown(saved)
        print(f"{out['id']}  version {out['version']}  {out['name']}  updated {out['updated_at']}")
        print(json.dumps(out["config"], indent=2, ensure_ascii=False))
    elif what == "update":
        saved = await store.update(args.id, _config_arg(args), name=args.name)
        print(f"updated {saved.id} (version {saved.version})")
    elif what == "delete":
        if not await store.delete(args.id):
            raise StoreError(404, f"no saved config with id '{args.id}'")
        print(f"deleted {args.id}")
    return 0


def _config_arg(args: argparse.Namespace) -> Any:
    if (args.config is None) == (args.file is None):
        raise StoreError(400, "give the config either inline or with --file, not both or neither")
    text = args.config
    if args.file is not None:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        return json.loads(text)
    except ValueError as e:
        raise StoreError(400, f"Invalid config: not valid JSON ({e.args[0]})") from None


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], empty: str) -> None:
    if not rows:
        if empty:
            print(empty)
        return
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in rows:
        cells = (str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        print("  ".join(cells).rstrip())
