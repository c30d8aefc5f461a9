"""Password rules and hashes: argon2id, rehashed at login when the parameters change."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
# Longer than anyone types; keeps a huge body from costing a huge hash.
MAX_LENGTH = 1024

HASHER = PasswordHasher(type=Type.ID)


class WeakPassword(ValueError):
    """A password the hub refuses; the message says why."""


def check_strength(password: str) -> None:
    """Refuse an empty, blank, short or absurdly long password with a clear message."""
    if not password.strip():
        raise WeakPassword("the password is empty (or only spaces)")
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"the password is too short: at least {MIN_LENGTH} characters, got {len(password)}"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password is too long: at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return HASHER.hash(password)


def verify(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``; a broken hash is a mismatch, never an error."""
    try:
        return HASHER.verify(stored, password[: MAX_LENGTH + 1])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@cache
def dummy_hash() -> str:
    """A hash to verify against for an unknown user, so that costs as long as a real one."""
    return HASHER.hash("fabfleet: no such user, nothing to match")
