"""Personal access tokens: long-lived, scoped API credentials for scripts.

A token is ``vid2mp3_pat_`` followed by 256 random bits (URL-safe base64). The prefix lets people
and secret scanners recognise a leaked one; the plaintext is returned once, at creation, and only
its SHA-256 is stored: the secret has full entropy, so a fast hash is enough and look-ups are a
unique-index hit. Scopes are ``read`` (GET routes) and ``upload`` (uploads and job actions); a
token never manages tokens. Functions work on a caller's session and flush but never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import PersonalAccessToken, User, utcnow
from core.tokens import InvalidToken

PREFIX = "vid2mp3_pat_"
SCOPES = ("read", "upload")
MAX_NAME_LENGTH = 100
MAX_TOKENS_PER_USER = 50
# Writing last_used_at on every request would make each GET a write; a minute is precise enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_SHAPE = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_-]{43}")


class TokenRequestError(ValueError):
    """A token could not be created as asked; the message can be shown to the user."""


def is_personal_token(value: str) -> bool:
    """Tell whether a bearer value is meant as a personal access token (by its prefix)."""
    return value.startswith(PREFIX)


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def check_scopes(scopes: object) -> tuple[str, ...]:
    """Return the scopes in canonical order, or raise TokenRequestError for an empty/unknown one."""
    if not isinstance(scopes, list | tuple) or not scopes:
        raise TokenRequestError(f"scopes must be a non-empty list of {', '.join(SCOPES)}")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise TokenRequestError(f"unknown scope {unknown[0]!r}; use {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in scopes)


def create_token(
    session: Session,
    user: User,
    name: str,
    scopes: object,
    expires_at: dt.datetime | None = None,
) -> tuple[PersonalAccessToken, str]:
    """Add a token for `user`; return the row and the plaintext (shown once, never stored)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise TokenRequestError(f"name must be 1 to {MAX_NAME_LENGTH} characters")
    canonical = check_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise TokenRequestError("expires_at must be in the future")
    count = session.scalar(
        select(func.count())
        .select_from(PersonalAccessToken)
        .where(PersonalAccessToken.user_id == user.id)
    )
    if count >= MAX_TOKENS_PER_USER:
        raise TokenRequestError(f"at most {MAX_TOKENS_PER_USER} tokens; revoke an old one first")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = PersonalAccessToken(
        user_id=user.id,
        name=name,
        token_hash=_digest(plaintext),
        hint=plaintext[: len(PREFIX) + 4],
        scopes=" ".join(canonical),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def list_tokens(session: Session, user_id: int) -> list[PersonalAccessToken]:
    """Return a user's tokens, newest first."""
    query = select(PersonalAccessToken).where(PersonalAccessToken.user_id == user_id)
    return list(
        session.scalars(
            query.order_by(PersonalAccessToken.created_at.desc(), PersonalAccessToken.id.desc())
        )
    )


def revoke_token(session: Session, user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; False when it is not theirs or does not exist."""
    token = session.get(PersonalAccessToken, token_id)
    if token is None or token.user_id != user_id:
        return False
    session.delete(token)
    session.flush()
    return True


def authenticate_token(session: Session, plaintext: str) -> tuple[User, frozenset[str]]:
    """Return the active owner of a valid token and its scopes; raise InvalidToken otherwise.

    Records the time of use (at most once a minute per token).
    """
    if not _SHAPE.fullmatch(plaintext):
        raise InvalidToken("malformed personal access token")
    token = session.scalars(
        select(PersonalAccessToken).where(PersonalAccessToken.token_hash == _digest(plaintext))
    ).one_or_none()
    if token is None:
        raise InvalidToken("unknown or revoked personal access token")
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        raise InvalidToken("personal access token expired")
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise InvalidToken("account is disabled or no longer exists")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.flush()
    return user, frozenset(token.scopes.split())
