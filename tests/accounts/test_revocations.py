"""The deny-list of signed-out tokens: refused until expiry, then forgotten."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from core import revocations
from core.models import RevokedToken, utcnow


def test_a_revoked_token_is_refused_and_revoking_twice_is_harmless(session):
    jti = uuid.uuid4().hex
    assert not revocations.is_revoked(session, jti)
    expires = utcnow() + dt.timedelta(hours=1)
    revocations.revoke(session, jti, expires)
    revocations.revoke(session, jti, expires)
    assert revocations.is_revoked(session, jti)
    assert not revocations.is_revoked(session, uuid.uuid4().hex)


def test_expired_entries_are_purged_and_expired_tokens_not_recorded(session):
    old, stale, fresh = (uuid.uuid4().hex for _ in range(3))
    session.add(RevokedToken(jti=old, expires_at=utcnow() - dt.timedelta(seconds=1)))
    session.flush()
    revocations.revoke(session, stale, utcnow() - dt.timedelta(seconds=1))
    revocations.revoke(session, fresh, utcnow() + dt.timedelta(minutes=5))
    kept = set(
        session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_([old, stale, fresh])))
    )
    assert kept == {fresh}
