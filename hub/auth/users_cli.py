"""``fabfleet-hub user add|remove|passwd|list``: accounts from the command line.

The same steps serve the host's ``fabfleet user`` (orchestrator/cli/users.py),
which finds the hub's database from the fleet file. There is no default
account and no default password: the first admin is made here.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from hub.auth import accounts, tables
from hub.auth.grants import describe_grants
from hub.auth.passwords import WeakPassword, check_strength
from hub.auth.rights import ROLES, Grants
from hub.db import DatabaseRefused, open_database

DATABASE = "hub.sqlite"


class UserCommandError(Exception):
    """What went wrong, in one line for the terminal."""


def actor() -> str:
    """Who the audit log says made a change from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid {os.getuid()}"


@contextmanager
def accounts_database(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The hub's database in ``data_dir`` (created 0600 when missing), closed afterwards."""
    try:
        db = open_database(data_dir / DATABASE, tables.schemas())
    except DatabaseRefused as error:
        raise UserCommandError(str(error)) from None
    except (OSError, sqlite3.Error) as error:
        raise UserCommandError(f"cannot open {data_dir / DATABASE}: {error}") from None
    try:
        yield db
    finally:
        db.close()


def read_new_password(
    from_stdin: bool,
    stdin: TextIO | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """A new password: one line of standard input, or typed twice at a prompt."""
    if from_stdin:
        line = (stdin or sys.stdin).readline()
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        try:
            password = prompt("New password: ")
            again = prompt("Repeat it: ")
        except (EOFError, KeyboardInterrupt):
            raise UserCommandError("no password given") from None
        if password != again:
            raise UserCommandError("the passwords do not match")
    try:
        check_strength(password)
    except WeakPassword as error:
        raise UserCommandError(str(error)) from None
    return password


def choose_role(admin: bool, role: str | None) -> str:
    if admin and role not in (None, "admin"):
        raise UserCommandError(f"--admin and --role {role} contradict each other")
    chosen = "admin" if admin else (role or "viewer")
    if chosen not in ROLES:
        raise UserCommandError(f"no role '{chosen}'; roles: {', '.join(ROLES)}")
    return chosen


def add(
    data_dir: Path,
    name: str,
    role: str,
    grants: Grants,
    password: Callable[[], str],
    prepare: Callable[[], None] = lambda: None,
) -> str:
    """Add a user; ``password`` is asked only once name and role are known to be fine.

    Nothing is created (``prepare`` is not called, the database not opened) until
    every check has passed and the password is known: a refusal leaves no file.
    """
    try:
        accounts.check_name(name)
        accounts.check_role(role)
        if (data_dir / DATABASE).exists():
            with accounts_database(data_dir) as db:
                if accounts.get_account(db, name) is not None:
                    raise accounts.UserExists(name)
        new_password = password()
        prepare()
        with accounts_database(data_dir) as db:
            user = accounts.create_user(db, name, new_password, role, grants, actor=actor())
    except (accounts.AccountError, WeakPassword) as error:
        raise UserCommandError(str(error)) from None
    grants_text = "every printer" if user.admin else describe_grants(user.grants)
    return f"added {user.name} ({user.role}; {grants_text})"


def remove(data_dir: Path, name: str) -> str:
    try:
        with accounts_database(data_dir) as db:
            accounts.remove_user(db, name, actor=actor())
    except accounts.AccountError as error:
        raise UserCommandError(str(error)) from None
    return f"removed {name}; their sessions and API keys are gone"


def passwd(data_dir: Path, name: str, password: Callable[[], str]) -> str:
    try:
        with accounts_database(data_dir) as db:
            if accounts.get_account(db, name) is None:
                raise accounts.UnknownUser(name)
            accounts.set_password(db, name, password(), actor=actor())
    except (accounts.AccountError, WeakPassword) as error:
        raise UserCommandError(str(error)) from None
    return f"changed the password of {name}; their sessions have ended"


def change_role(data_dir: Path, name: str, role: str) -> str:
    try:
        with accounts_database(data_dir) as db:
            user = accounts.set_role(db, name, role, actor=actor())
    except accounts.AccountError as error:
        raise UserCommandError(str(error)) from None
    return f"{user.name} is now {user.role}"


def change_grants(data_dir: Path, name: str, grants: Grants) -> str:
    try:
        with accounts_database(data_dir) as db:
            user = accounts.set_grants(db, name, grants, actor=actor())
    except accounts.AccountError as error:
        raise UserCommandError(str(error)) from None
    return f"{user.name} may now use: {describe_grants(user.grants)}"


def listing(data_dir: Path, as_json: bool, command: str = "fabfleet-hub") -> str:
    with accounts_database(data_dir) as db:
        users = accounts.list_users(db)
    if as_json:
        return json.dumps([u.as_json() for u in users], indent=2)
    if not users:
        return f"no users yet; add the first admin with: {command} user add NAME --admin"
    rows = [("NAME", "ROLE", "GRANTS")]
    for account in users:
        role = account.user.role + (" (disabled)" if account.disabled else "")
        grants = "every printer" if account.user.admin else describe_grants(account.user.grants)
        rows.append((account.user.name, role, grants))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows
    )


def grants_from(printers: list[str], groups: list[str], every_printer: bool) -> Grants:
    try:
        return accounts.make_grants(printers, groups, every_printer)
    except accounts.AccountError as error:
        raise UserCommandError(str(error)) from None


# --- fabfleet-hub user ... ----------------------------------------------------


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser("user", help="add, remove and list the hub's users")
    actions = user.add_subparsers(dest="action", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", help="the hub's data directory (FABFLEET_DATA_DIR)")

    add_command = actions.add_parser("add", help="add a user (asks for the password twice)")
    add_command.add_argument("name")
    chosen = add_command.add_mutually_exclusive_group()
    chosen.add_argument("--admin", action="store_true", help="same as --role admin")
    chosen.add_argument("--role", choices=ROLES, help="default: viewer")
    add_command.add_argument("--printer", action="append", default=[], help="grant a printer")
    add_command.add_argument("--group", action="append", default=[], help="grant a group")
    add_command.add_argument("--all-printers", action="store_true", help="grant every printer")
    add_command.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    common(add_command)

    remove_command = actions.add_parser("remove", help="remove a user")
    remove_command.add_argument("name")
    common(remove_command)

    passwd_command = actions.add_parser("passwd", help="set a user's password")
    passwd_command.add_argument("name")
    passwd_command.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    common(passwd_command)

    list_command = actions.add_parser("list", help="list users")
    list_command.add_argument("--json", action="store_true", help="machine-readable output")
    common(list_command)


def run(arguments: argparse.Namespace) -> None:
    """Carry out ``fabfleet-hub user …``; exits 1 with one line on a refusal."""
    given = arguments.data_dir or os.environ.get("FABFLEET_DATA_DIR")
    if not given:
        sys.exit("fabfleet-hub: --data-dir (or FABFLEET_DATA_DIR) is required")
    data_dir = Path(given)
    try:
        if arguments.action == "add":
            grants = grants_from(arguments.printer, arguments.group, arguments.all_printers)
            role = choose_role(arguments.admin, arguments.role)
            print(
                add(
                    data_dir,
                    arguments.name,
                    role,
                    grants,
                    lambda: read_new_password(arguments.password_stdin),
                )
            )
        elif arguments.action == "remove":
            print(remove(data_dir, arguments.name))
        elif arguments.action == "passwd":
            print(
                passwd(
                    data_dir, arguments.name, lambda: read_new_password(arguments.password_stdin)
                )
            )
        else:
            print(listing(data_dir, arguments.json))
    except UserCommandError as error:
        sys.exit(f"fabfleet-hub: {error}")
