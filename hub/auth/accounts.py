"""Users and their grants in the hub's database: adding, removing, passwords, roles.

Used by the users API (``hub/auth/users_api.py``), ``fabfleet-hub user`` and the
host's ``fabfleet user``. Every change is written to the audit log. The last
admin can be neither removed, demoted nor disabled.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hub.auth import tables
from hub.auth.grants import describe_grants, grant_rows, grants_from_rows, grants_json
from hub.auth.passwords import hash_password
from hub.auth.rights import EVERY_PRINTER, ROLES, Grants, Role, User
from hub.records import audit

SCHEMA = tables.USERS

NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Printer and group names as the fleet file allows them, with some room.
GRANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class AccountError(ValueError):
    """A change the hub refuses; the message is one line for the user."""

    status = 400


class UnknownUser(AccountError):
    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"no user named '{name}'")


class UserExists(AccountError):
    status = 409

    def __init__(self, name: str) -> None:
        super().__init__(f"a user named '{name}' already exists")


class LastAdmin(AccountError):
    status = 409

    def __init__(self, name: str, change: str) -> None:
        super().__init__(
            f"cannot {change} '{name}': it is the last admin; make another admin first"
        )


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the admin sees it."""

    user: User
    created: float
    disabled: bool

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.user.name,
            "role": self.user.role,
            "grants": grants_json(self.user.grants),
            "created": self.created,
            "disabled": self.disabled,
        }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise AccountError(
            "a user name is 1-64 letters, digits, '.', '-' or '_'"
            + (f", not '{name[:80]}'" if isinstance(name, str) and name else "")
        )
    return name


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise AccountError(f"no role '{str(role)[:40]}'; roles: {', '.join(ROLES)}")


def make_grants(printers: object = (), groups: object = (), every_printer: bool = False) -> Grants:
    """Grants from lists of names (``*`` among printers: every printer); refuses bad names."""

    def names(value: object, what: str) -> frozenset[str]:
        if not isinstance(value, list | tuple | set | frozenset) or not all(
            isinstance(v, str) for v in value
        ):
            raise AccountError(f"{what} must be a list of names")
        for v in value:
            if v != EVERY_PRINTER and not GRANT_NAME.fullmatch(v):
                raise AccountError(f"'{v[:80]}' is not a {what[:-1]} name")
        if len(value) > 1000:
            raise AccountError(f"at most 1000 {what}")
        return frozenset(value)

    chosen = names(printers, "printers")
    group_names = names(groups, "groups")
    if EVERY_PRINTER in group_names:
        raise AccountError("'*' is a printer grant (every printer), not a group")
    if every_printer:
        chosen |= {EVERY_PRINTER}
    return Grants(printers=chosen, groups=group_names)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (taken at once, so two writers never deadlock)."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _row(db: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = db.execute(
        "SELECT id, name, role, created, disabled FROM users WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise UnknownUser(name)
    return row  # type: ignore[no-any-return]


def _grants_of(db: sqlite3.Connection, user_id: int) -> Grants:
    rows = db.execute("SELECT kind, name FROM grants WHERE user_id = ?", (user_id,)).fetchall()
    return grants_from_rows([(r["kind"], r["name"]) for r in rows])


def _account(db: sqlite3.Connection, row: sqlite3.Row) -> Account:
    user = User(row["name"], check_role(row["role"]), _grants_of(db, row["id"]))
    return Account(user, row["created"], bool(row["disabled"]))


def _write_grants(db: sqlite3.Connection, user_id: int, grants: Grants) -> None:
    db.execute("DELETE FROM grants WHERE user_id = ?", (user_id,))
    db.executemany(
        "INSERT INTO grants (user_id, kind, name) VALUES (?, ?, ?)",
        [(user_id, kind, name) for kind, name in grant_rows(grants)],
    )


def _other_admins(db: sqlite3.Connection, user_id: int) -> int:
    row = db.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
        (user_id,),
    ).fetchone()
    return int(row[0])


def create_user(
    db: sqlite3.Connection,
    name: str,
    password: str,
    role: str,
    grants: Grants | None = None,
    *,
    actor: str = "system",
) -> User:
    """Add a user; UserExists, or AccountError/WeakPassword for a bad name, role or password."""
    check_name(name)
    chosen = check_role(role)
    grants = grants or Grants()
    hashed = hash_password(password)
    with transaction(db):
        if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise UserExists(name)
        cursor = db.execute(
            "INSERT INTO users (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
            (name, chosen, hashed, time.time()),
        )
        assert cursor.lastrowid is not None
        _write_grants(db, cursor.lastrowid, grants)
        audit.record(db, actor, "user add", None, f"{name} as {chosen}; {describe_grants(grants)}")
    return User(name, chosen, grants)


def remove_user(db: sqlite3.Connection, name: str, *, actor: str = "system") -> None:
    """Remove a user with their sessions and API keys; never the last admin."""
    with transaction(db):
        row = _row(db, name)
        if row["role"] == "admin" and not row["disabled"] and _other_admins(db, row["id"]) == 0:
            raise LastAdmin(row["name"], "remove")
        db.execute("DELETE FROM users WHERE id = ?", (row["id"],))
        audit.record(db, actor, "user remove", None, row["name"])


def set_password(
    db: sqlite3.Connection, name: str, password: str, *, actor: str = "system"
) -> None:
    """A new password; every session of the user ends (API keys stay)."""
    hashed = hash_password(password)
    with transaction(db):
        row = _row(db, name)
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, row["id"]))
        db.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
        audit.record(db, actor, "user password", None, row["name"])


def set_role(db: sqlite3.Connection, name: str, role: str, *, actor: str = "system") -> User:
    chosen = check_role(role)
    with transaction(db):
        row = _row(db, name)
        demoted = row["role"] == "admin" and chosen != "admin" and not row["disabled"]
        if demoted and _other_admins(db, row["id"]) == 0:
            raise LastAdmin(row["name"], f"make {chosen}")
        db.execute("UPDATE users SET role = ? WHERE id = ?", (chosen, row["id"]))
        audit.record(db, actor, "user role", None, f"{row['name']}: {row['role']} -> {chosen}")
        return User(row["name"], chosen, _grants_of(db, row["id"]))


def set_grants(db: sqlite3.Connection, name: str, grants: Grants, *, actor: str = "system") -> User:
    with transaction(db):
        row = _row(db, name)
        _write_grants(db, row["id"], grants)
        audit.record(db, actor, "user grants", None, f"{row['name']}: {describe_grants(grants)}")
        return User(row["name"], check_role(row["role"]), grants)


def set_disabled(
    db: sqlite3.Connection, name: str, disabled: bool, *, actor: str = "system"
) -> None:
    """A disabled user cannot log in and their sessions and API keys stop working."""
    with transaction(db):
        row = _row(db, name)
        if disabled and row["role"] == "admin" and _other_admins(db, row["id"]) == 0:
            raise LastAdmin(row["name"], "disable")
        db.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), row["id"]))
        if disabled:
            db.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
        action = "user disable" if disabled else "user enable"
        audit.record(db, actor, action, None, row["name"])


def list_users(db: sqlite3.Connection) -> list[Account]:
    rows = db.execute(
        "SELECT id, name, role, created, disabled FROM users ORDER BY name COLLATE NOCASE"
    ).fetchall()
    return [_account(db, row) for row in rows]


def get_account(db: sqlite3.Connection, name: str) -> Account | None:
    try:
        return _account(db, _row(db, name))
    except UnknownUser:
        return None


def get_user(db: sqlite3.Connection, name: str) -> User | None:
    account = get_account(db, name)
    return None if account is None or account.disabled else account.user


def password_hash(db: sqlite3.Connection, name: str) -> tuple[int, str, str] | None:
    """(id, stored name, hash) of an enabled user, for logging in."""
    row = db.execute(
        "SELECT id, name, password_hash FROM users WHERE name = ? AND disabled = 0", (name,)
    ).fetchone()
    return None if row is None else (row["id"], row["name"], row["password_hash"])


def store_rehash(db: sqlite3.Connection, user_id: int, hashed: str) -> None:
    db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, user_id))
