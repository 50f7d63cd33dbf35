"""``leviathan-control-plane [serve] [--host H] [--port P]`` and ``... migrate``."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from leviathan_control_plane.app import create_app, freeze_startup_heap
from leviathan_control_plane.log.database import make_engine, migrate
from leviathan_control_plane.logs import configure_logging
from leviathan_control_plane.settings import ControlPlaneSettings, SettingsError

log = logging.getLogger("leviathan.control_plane")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leviathan-control-plane",
        description="Leviathan control plane: event log, projections and the HTTP API.",
    )
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP API (the default)")
    for target in (parser, serve):
        target.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
        target.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ControlPlaneSettings()
    configure_logging(settings.log_level)
    try:
        if args.command == "migrate":
            engine = make_engine(settings.resolved_database_url())
            migrate(engine)
            engine.dispose()
            print(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")
            return 0
        app = create_app(settings)
    except SettingsError as exc:
        print(f"leviathan-control-plane: {exc}", file=sys.stderr)
        return 2
    freeze_startup_heap()
    log.info("control plane listening on %s:%s", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
