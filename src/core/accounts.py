"""Create, find, change and authenticate user accounts.

Every function works on a caller's SQLAlchemy `Session` and flushes but never commits. E-mail
addresses are stored stripped and lower-cased; look-ups normalise the same way.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import User
from core.passwords import (
    MAX_LENGTH,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)*")  # admin@localhost is fine


class AccountError(ValueError):
    """An account operation was refused; the message can be shown to the user."""


def normalize_email(email: str) -> str:
    """Return `email` stripped and lower-cased (the form stored in the database)."""
    return email.strip().lower() if isinstance(email, str) else ""


def validate_email(email: str) -> str:
    """Return the normalised `email` or raise AccountError when it does not look like one."""
    normalized = normalize_email(email)
    if not normalized:
        raise AccountError("an e-mail address is required")
    if len(normalized) > MAX_EMAIL_LENGTH:
        raise AccountError(f"the e-mail address must be at most {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.fullmatch(normalized):
        raise AccountError(f"{normalized!r} does not look like an e-mail address")
    return normalized


def _checked_password(password: str) -> str:
    try:
        check_password_policy(password)
    except ValueError as error:
        raise AccountError(str(error)) from None
    return password


def get_user_by_email(session: Session, email: str) -> User | None:
    """Return the account with this e-mail, or None."""
    normalized = normalize_email(email)
    if not normalized:
        return None
    return session.scalars(select(User).where(User.email == normalized)).one_or_none()


def list_users(session: Session) -> list[User]:
    """Return every account, oldest first."""
    return list(session.scalars(select(User).order_by(User.id)))


def create_user(session: Session, email: str, password: str, *, is_admin: bool = False) -> User:
    """Add an account and flush it; raise AccountError for a bad e-mail, password or duplicate.

    If another process creates the same e-mail at the same moment, the flush fails; the session
    is then rolled back (it is unusable after a failed flush anyway) and AccountError raised.
    """
    normalized = validate_email(email)
    _checked_password(password)
    if get_user_by_email(session, normalized) is not None:
        raise AccountError("an account with this e-mail already exists")
    user = User(
        email=normalized,
        password_hash=hash_password(password),
        is_admin=is_admin,
        is_active=True,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise AccountError("an account with this e-mail already exists") from None
    return user


def _existing(session: Session, email: str) -> User:
    user = get_user_by_email(session, email)
    if user is None:
        raise AccountError(f"no account with the e-mail {normalize_email(email)!r}")
    return user


def set_password(session: Session, email: str, password: str) -> User:
    """Replace an account's password; raise AccountError if unknown or against the policy."""
    _checked_password(password)
    user = _existing(session, email)
    user.password_hash = hash_password(password)
    session.flush()
    return user


def disable_user(session: Session, email: str) -> User:
    """Stop an account from logging in (tokens already issued run out at their `exp`)."""
    user = _existing(session, email)
    user.is_active = False
    session.flush()
    return user


def enable_user(session: Session, email: str) -> User:
    """Let a disabled account log in again."""
    user = _existing(session, email)
    user.is_active = True
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """Return the active account matching `email` and `password`, or None.

    Unknown e-mails cost one dummy argon2 check, so timing does not reveal which accounts exist.
    Disabled accounts get None too, after the same check. A hash made with older parameters is
    replaced (the caller's commit stores it).
    """
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return None
    user = get_user_by_email(session, email)
    if user is None:
        verify_dummy(password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.flush()
    return user
