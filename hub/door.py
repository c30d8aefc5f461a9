"""The hub's one door for code outside it: users, printer keys, the demo's database.

The orchestrator (``fabfleet``) imports this module and nothing else of the hub;
import-linter holds it to that (pyproject.toml, ``[tool.importlinter]``). What it
promises, and nothing more:

Users, in a hub data directory (the directory holding :data:`DATABASE`, which the
hub's container mounts). Each call opens the database, makes one change in one
transaction (written to the audit log as done by :func:`actor`), closes it, and
returns one line for the terminal; a refusal is :class:`UserCommandError` with a
one-line message. The last admin can be neither removed nor demoted.

- :func:`add_user`, :func:`remove_user` (their sessions and API keys go too),
  :func:`set_password` (their sessions end), :func:`set_role`, :func:`set_grants`,
  :func:`list_users` (a table, or JSON);
- :func:`choose_role`, :func:`grants_from` and :func:`read_new_password` check
  a command line's choices before anything is written.

Keys, from the gate's master key (bytes; the hub reads it from ``gate.key``):

- :func:`printer_key`: the key one print server verifies identities with;
- :func:`proxy_key`: the key nginx shows the gate with;
- :func:`identity_header`: the signed identity header for one printer, as the
  gate's answer carries it (valid for a minute), for the host's own tools.

The demo's hub: :func:`set_demo_user` makes (or resets) a user in a hub database
with every table the hub has, before ``fabfleet-hub serve`` starts on it.

The database's version: :func:`schema_version`, the one this release writes
(docs/upgrades.md); :class:`DatabaseRefused` when a database is newer than that, or
not a database, and is left as it is.

Everything else in ``hub/`` may change without notice to its callers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hub.app import schemas
from hub.auth import accounts, signing, users_cli
from hub.auth.rights import Grants
from hub.auth.users_cli import DATABASE, UserCommandError, actor
from hub.db import DatabaseRefused, open_database, schema_version

__all__ = [
    "DATABASE",
    "IDENTITY_HEADER",
    "DatabaseRefused",
    "Grants",
    "UserCommandError",
    "actor",
    "add_user",
    "choose_role",
    "grants_from",
    "identity_header",
    "list_users",
    "printer_key",
    "proxy_key",
    "read_new_password",
    "remove_user",
    "schema_version",
    "set_demo_user",
    "set_grants",
    "set_password",
    "set_role",
]

IDENTITY_HEADER = signing.HEADER


# --- users ------------------------------------------------------------------------


def choose_role(admin: bool, role: str | None) -> str:
    """The role ``--admin`` / ``--role`` ask for (default viewer); refuses a contradiction."""
    return users_cli.choose_role(admin, role)


def grants_from(printers: list[str], groups: list[str], every_printer: bool) -> Grants:
    """Grants from printer and group names; refuses a name the fleet file could not hold."""
    return users_cli.grants_from(printers, groups, every_printer)


def read_new_password(from_stdin: bool) -> str:
    """A new password, one line of standard input or typed twice; refuses a weak one."""
    return users_cli.read_new_password(from_stdin)


def add_user(
    data_dir: Path,
    name: str,
    role: str,
    grants: Grants,
    password: Callable[[], str],
    prepare: Callable[[], None] = lambda: None,
) -> str:
    """Add a user. ``password`` is asked, then ``prepare`` run (make the directory), only
    once the name and role are known to be fine: a refusal leaves no file behind."""
    return users_cli.add(data_dir, name, role, grants, password, prepare)


def remove_user(data_dir: Path, name: str) -> str:
    """Remove a user with their sessions and API keys."""
    return users_cli.remove(data_dir, name)


def set_password(data_dir: Path, name: str, password: Callable[[], str]) -> str:
    """A new password for a user (asked only once the user is known); their sessions end."""
    return users_cli.passwd(data_dir, name, password)


def set_role(data_dir: Path, name: str, role: str) -> str:
    """Make a user admin, operator or viewer."""
    return users_cli.change_role(data_dir, name, role)


def set_grants(data_dir: Path, name: str, grants: Grants) -> str:
    """Replace a user's grants."""
    return users_cli.change_grants(data_dir, name, grants)


def list_users(data_dir: Path, as_json: bool, command: str = "fabfleet") -> str:
    """Every user with role and grants: a table (``command`` named in its hint), or JSON."""
    return users_cli.listing(data_dir, as_json, command)


# --- keys ---------------------------------------------------------------------------


def printer_key(master: bytes, printer: str) -> bytes:
    """The key print server ``printer`` verifies the gate's identities with."""
    return signing.printer_key(master, printer)


def proxy_key(master: bytes) -> bytes:
    """The key nginx sends the gate to show a question comes from the proxy."""
    return signing.proxy_key(master)


def identity_header(
    master: bytes, printer: str, user: str, may_act: bool = False
) -> dict[str, str]:
    """The header that lets ``user`` ask print server ``printer`` directly, as the gate
    would sign it (may act on the printer only when ``may_act``)."""
    return {IDENTITY_HEADER: signing.identity_for(master, printer, user, may_act)}


# --- the demo's hub -----------------------------------------------------------------


def set_demo_user(database: Path, name: str, password: str, role: str = "admin") -> None:
    """User ``name`` with ``role`` and ``password`` in the hub database at ``database``
    (made, with every table the hub has, when missing): added, or its role and password
    reset. Raises ValueError for a refused name, role or password, DatabaseRefused for a
    database from a newer release or not a database at all, sqlite3.Error when
    the database cannot be written."""
    # Every feature's tables: the database is the one `fabfleet-hub serve` would make.
    db = open_database(database, schemas())
    try:
        try:
            accounts.create_user(db, name, password, role, actor="demo")
        except accounts.UserExists:
            accounts.set_role(db, name, role, actor="demo")
            accounts.set_password(db, name, password, actor="demo")
    finally:
        db.close()
