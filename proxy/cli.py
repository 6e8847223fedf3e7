"""``lockgate`` command line: ``serve`` plus the subcommands features register."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from proxy import cli_cache, cli_configs, cli_logs
from proxy.settings import SettingsError, load_settings

# Features add subcommands here: each gets the subparsers object once.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [  # type: ignore[type-arg]
    cli_configs.add_command,  # lockgate configs create|list|show|update|delete
    cli_logs.add_subcommands,  # lockgate logs tail|search|export, lockgate stats
    cli_cache.add_command,  # lockgate cache stats|clear [--namespace]
]


def _serve(args: argparse.Namespace) -> int:
    from proxy.server import configure_logging, serve

    try:
        settings = load_settings(
            args.settings,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            workers=args.workers,
        )
    except SettingsError as e:
        print(f"lockgate: {e}", file=sys.stderr)
        return 2
    configure_logging()
    return serve(settings)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", help="TOML settings file (also LOCKGATE_SETTINGS)")
    p.add_argument(
        "--data-dir", dest="data_dir", help="where the SQLite file lives (default ./data)"
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lockgate", description="Portkey-compatible AI gateway")
    sub = top.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int, help="processes sharing the port (SO_REUSEPORT)")
    add_common(s)
    s.set_defaults(func=_serve)
    for add in COMMANDS:
        add(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
