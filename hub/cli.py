"""``fabfleet-hub``: ``serve`` the hub; ``user …`` manages accounts (hub/auth/users_cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from hub.auth.users_cli import add_parser as user_parser
from hub.auth.users_cli import run as run_user_command
from hub.config import ConfigError, from_environment
from hub.db import DatabaseRefused
from hub.server import serve


def serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the hub's web server")
    parser.add_argument("--data-dir", help="database and keys (FABFLEET_DATA_DIR)")
    parser.add_argument("--fleet-file", help="hub/fleet.json (FABFLEET_FLEET)")
    parser.add_argument("--gate-key-file", help="the gate's master key (FABFLEET_GATE_KEY_FILE)")
    parser.add_argument("--listen", help="HOST:PORT (FABFLEET_LISTEN)")
    parser.add_argument(
        "--gate-listen",
        help="HOST:PORT answering only the gate, for a proxy that cannot send the proxy key"
        " (Traefik's forwardAuth); only the proxy may reach it (FABFLEET_GATE_LISTEN)",
    )
    parser.add_argument(
        "--session-idle",
        type=int,
        help="seconds a session lasts without a request (FABFLEET_SESSION_IDLE; 12 h)",
    )
    parser.add_argument(
        "--session-max",
        type=int,
        help="seconds a session lasts at most (FABFLEET_SESSION_MAX; 7 days)",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fabfleet-hub", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    serve_parser(commands)
    user_parser(commands)
    arguments = parser.parse_args(argv)
    if arguments.command == "user":
        run_user_command(arguments)
        return
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if arguments.command in (None, "serve"):
        given = {k: v for k, v in vars(arguments).items() if k != "command" and v is not None}
        try:
            config = from_environment(**given)
        except ConfigError as error:
            sys.exit(f"fabfleet-hub: {error}")
        try:
            asyncio.run(serve(config))
        except (OSError, ValueError, DatabaseRefused) as error:
            sys.exit(f"fabfleet-hub: {error}")
