"""Hash and check passwords with argon2id (RFC 9106 low-memory profile: 64 MiB, 3 passes).

`verify_password` never raises: a wrong password, a garbage hash or a wrong type all give False.
`verify_dummy` spends the same time as a real check, so a login for an unknown e-mail cannot be
told apart from a wrong password by timing.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024

# One hasher for the process; its parameters are part of every stored hash, so raising them
# later makes `needs_rehash` true for old hashes and `authenticate` upgrades them on login.
_HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


@functools.cache
def dummy_hash() -> str:
    """Return a hash of a random password nobody knows, made once with the current parameters."""
    return _HASHER.hash(secrets.token_urlsafe(24))


def check_password_policy(password: str) -> None:
    """Raise ValueError with a readable message when `password` is not acceptable."""
    if not isinstance(password, str):
        raise ValueError("the password must be text")
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"the password must be at most {MAX_LENGTH} characters long")


def hash_password(password: str) -> str:
    """Return the argon2id hash of `password` (a fresh random salt each time)."""
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether `password` matches `password_hash`, in constant time; never raises."""
    if not isinstance(password_hash, str) or not isinstance(password, str):
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def verify_dummy(password: str) -> bool:
    """Spend as long as a real check against a stored hash; always returns False."""
    verify_password(dummy_hash(), password if isinstance(password, str) else "")
    return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether `password_hash` was made with other parameters (or is not ours at all)."""
    if not isinstance(password_hash, str | bytes):
        return True
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError, TypeError):
        return True
