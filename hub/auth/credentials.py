"""What a session token or an API key is stored as, and the user a lookup row names.

Both kinds of credential are kept only as their SHA-256 hash and looked up with
their user's name, role and grants in one query; this is the part they share.
"""

from __future__ import annotations

import hashlib
import sqlite3

from hub.auth.grants import grants_from_lines
from hub.auth.rights import ROLES, Role, User


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def user_of(row: sqlite3.Row) -> User:
    """The User from a row with name, role and grant_lines (hub.auth.grants.GRANTS_COLUMN)."""
    role: Role = next((r for r in ROLES if r == row["role"]), "viewer")
    return User(row["name"], role, grants_from_lines(row["grant_lines"]))
