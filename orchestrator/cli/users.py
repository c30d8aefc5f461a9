"""`fabfleet user add|remove|passwd|list`: the hub's accounts, from the host.

Works on ``<site.state_dir>/hub-data/hub.sqlite``, the directory the hub's
container mounts, through the hub's door (:mod:`hub.door`). The directory is made
0700 and, when run as root, it and the database belong to the containers' user
(``site.container_uid``/``container_gid``) so the hub can write them. The first
admin is made with ``fabfleet user add NAME --admin``: there is no default one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from hub import door
from hub.door import UserCommandError
from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.fleet.file import DEFAULT_PATH

user_app = typer.Typer(help="The hub's users: add, remove, set a password, list.")

HUB_DATA = "hub-data"
NameArgument = Annotated[str, typer.Argument(help="Letters, digits, '.', '-' and '_'.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input instead of asking."
    ),
]


def _data_dir(config: Path) -> tuple[Path, int, int]:
    site = load(config).site
    return Path(site.state_dir) / HUB_DATA, site.container_uid, site.container_gid


def _prepare(data_dir: Path) -> None:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        data_dir.chmod(0o700)
    except OSError as error:
        fail(f"cannot create {data_dir}: {error.strerror}")


def _hand_over(data_dir: Path, uid: int, gid: int) -> None:
    """As root: the hub's container (running as uid:gid) must own what was written."""
    if os.geteuid() != 0 or not data_dir.exists():
        return
    for path in [data_dir, *data_dir.glob(door.DATABASE + "*")]:
        try:
            os.chown(path, uid, gid, follow_symlinks=False)
        except OSError as error:
            fail(f"cannot hand {path} to {uid}:{gid}: {error.strerror}")


def _run(config: Path, step: str) -> tuple[Path, int, int]:
    data_dir, uid, gid = _data_dir(config)
    if step != "list":
        _prepare(data_dir)
    return data_dir, uid, gid


@user_app.command("add")
def add(
    name: NameArgument,
    admin: Annotated[bool, typer.Option("--admin", help="Same as --role admin.")] = False,
    role: Annotated[
        str | None, typer.Option("--role", help="admin, operator or viewer (default: viewer).")
    ] = None,
    printer: Annotated[
        list[str] | None, typer.Option("--printer", help="Grant a printer (repeatable).")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="Grant a group of printers (repeatable).")
    ] = None,
    all_printers: Annotated[
        bool, typer.Option("--all-printers", help="Grant every printer.")
    ] = False,
    password_stdin: PasswordStdinOption = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Add a user of the hub (asks for the password twice)."""
    # Nothing is created before every check has passed and the password is known.
    data_dir, uid, gid = _data_dir(config)
    try:
        chosen = door.choose_role(admin, role)
        grants = door.grants_from(printer or [], group or [], all_printers)
        done = door.add_user(
            data_dir,
            name,
            chosen,
            grants,
            lambda: door.read_new_password(password_stdin),
            prepare=lambda: _prepare(data_dir),
        )
    except UserCommandError as error:
        _hand_over(data_dir, uid, gid)
        fail(str(error))
    _hand_over(data_dir, uid, gid)
    typer.echo(done)


@user_app.command("remove")
def remove(name: NameArgument, config: ConfigOption = DEFAULT_PATH) -> None:
    """Remove a user with their sessions and API keys (never the last admin)."""
    data_dir, uid, gid = _run(config, "remove")
    try:
        done = door.remove_user(data_dir, name)
    except UserCommandError as error:
        _hand_over(data_dir, uid, gid)
        fail(str(error))
    _hand_over(data_dir, uid, gid)
    typer.echo(done)


@user_app.command("passwd")
def passwd(
    name: NameArgument,
    password_stdin: PasswordStdinOption = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """Set a user's password; their sessions end."""
    data_dir, uid, gid = _run(config, "passwd")
    try:
        done = door.set_password(data_dir, name, lambda: door.read_new_password(password_stdin))
    except UserCommandError as error:
        _hand_over(data_dir, uid, gid)
        fail(str(error))
    _hand_over(data_dir, uid, gid)
    typer.echo(done)


@user_app.command("list")
def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
) -> None:
    """List the hub's users, their roles and grants."""
    data_dir, _uid, _gid = _run(config, "list")
    if not (data_dir / door.DATABASE).exists():
        if as_json:
            typer.echo("[]")
            return
        fail(f"no users yet ({data_dir / door.DATABASE} does not exist); "
             "add the first admin with: fabfleet user add NAME --admin")  # fmt: skip
    try:
        typer.echo(door.list_users(data_dir, as_json, "fabfleet"))
    except UserCommandError as error:
        fail(str(error))


def register(app: typer.Typer) -> None:
    """Add `user` to ``app``."""
    app.add_typer(user_app, name="user")
