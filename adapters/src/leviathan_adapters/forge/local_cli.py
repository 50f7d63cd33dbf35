"""Review pull requests on the local forge from a terminal.

``python -m leviathan_adapters.forge.local_cli --target demo list`` shows the
PRs; ``merge N`` merges one into the target branch (so the next tick reads the
updated backlog) and ``close N`` closes it unmerged. It reads the same
configuration and settings as every other process (``LEVIATHAN_CONFIG``,
``LEVIATHAN_DATA_DIR``), so it always opens the store the services use.
"""

from __future__ import annotations

import argparse
import sys

from leviathan_adapters.forge.base import ForgeRejected, ForgeUnavailable
from leviathan_adapters.forge.factory import make_forge
from leviathan_adapters.forge.local import LocalForge
from leviathan_adapters.process_settings import process_settings
from leviathan_core.config import ConfigError, load_configs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m leviathan_adapters.forge.local_cli",
        description="List, merge or close pull requests on a local forge.",
    )
    parser.add_argument("--config", help="configuration file or directory (LEVIATHAN_CONFIG)")
    parser.add_argument("--target", required=True, help="target id")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every PR with its state")
    for name, text in (("merge", "merge PR N into its base"), ("close", "close PR N")):
        commands.add_parser(name, help=text).add_argument("number", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = process_settings()
        source = args.config or settings.config_path()
        configs = load_configs(source)
        if args.target not in configs:
            raise ConfigError(f"no target {args.target!r} in {source}")
        forge = make_forge(configs[args.target], settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not isinstance(forge, LocalForge):
        print(f"error: target {args.target!r} uses forge: github, not local", file=sys.stderr)
        return 2
    try:
        if args.command == "list":
            for pr in forge.list_pull_requests():
                print(f"#{pr.number}\t{pr.state}\t{pr.branch}\t{pr.title}\t{pr.url}")
            return 0
        pr = forge.close_pull_request(args.number, merged=args.command == "merge")
    except (ForgeRejected, ForgeUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"#{pr.number} is {pr.state}: {pr.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
