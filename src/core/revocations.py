"""Keep the deny-list of signed-out tokens: a token id is refused until its own expiry.

Tokens are stateless JWTs; signing out records the token's `jti` with its `exp`, and every
authenticated request asks `is_revoked`, or folds `revoked(jti)` into the query that loads its
user (one round trip instead of two on every request). Rows past their expiry are useless (the
token is refused for being expired) and are purged whenever another token is revoked.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BindParameter, Exists, delete, select
from sqlalchemy.orm import Session

from core.models import RevokedToken, utcnow


def revoke(session: Session, jti: str, expires_at: dt.datetime) -> None:
    """Refuse the token `jti` from now until `expires_at`; revoking twice is harmless."""
    now = utcnow()
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if expires_at > now and session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
    session.flush()


def revoked(jti: str | BindParameter) -> Exists:
    """Return the SQL condition "the token `jti` was signed out", to select with other columns.

    `jti` is a token id, or a bound parameter that gives it when the statement runs.
    """
    return select(RevokedToken.jti).where(RevokedToken.jti == jti).exists()


def is_revoked(session: Session, jti: str) -> bool:
    """Tell whether the token `jti` was signed out."""
    return bool(session.scalar(select(revoked(jti))))
