"""Throttle logins per key (account, client address) in the `login_throttle` table.

The table is shared by every web worker. Keys such as `account_key(email)` and
`client_key(ip)` are stored as their SHA-256 hex digest, so no e-mail address sits there in clear.

A key collects failures in a window of `lockout_seconds` that starts at its first failure; the
`max_failures`-th failure in a window locks it for `lockout_seconds`. After the lock (or a quiet
window) the count starts again from zero.

The web layer should:
  1. `check(session, [account, client])` before checking the password: a number means answer
     429 with `Retry-After: ceil(number)` and do not check the password at all;
  2. on a wrong password `record_failure(session, [account, client], ...)`;
  3. on success `record_success(session, [account])` only: clearing the client key on success
     would let one attacker reset its address's count by logging in to its own account.

Concurrency: the failure count is incremented with `failures = failures + 1` in SQL, so two
workers do not lose counts on an existing row. Two workers creating the same key's first row at
the same moment conflict on the primary key; `record_failure` then rolls the session back and
counts once more on the row the other worker wrote (a count may be lost if that also fails,
which is acceptable for throttling). Call it in a session that holds nothing else to keep.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core.models import LoginThrottle, utcnow


def account_key(email: str) -> str:
    """Return the throttle key of an account (the e-mail normalised as accounts store it)."""
    return f"account:{email.strip().lower()}"


def client_key(address: str) -> str:
    """Return the throttle key of a client address."""
    return f"client:{address.strip().lower()}"


def _digests(keys: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(hashlib.sha256(key.encode()).hexdigest() for key in keys))


def _rows(session: Session, digests: list[str]) -> dict[str, LoginThrottle]:
    if not digests:
        return {}
    query = (
        select(LoginThrottle)
        .where(LoginThrottle.key.in_(digests))
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in session.scalars(query)}


def check(session: Session, keys: list[str], now: dt.datetime | None = None) -> float | None:
    """Return the seconds to wait if any key is locked, else None."""
    now = now or utcnow()
    waits = [
        (row.locked_until - now).total_seconds()
        for row in _rows(session, _digests(keys)).values()
        if row.locked_until is not None and row.locked_until > now
    ]
    return max(waits) if waits else None


def record_failure(
    session: Session,
    keys: list[str],
    *,
    max_failures: int,
    lockout_seconds: int,
    now: dt.datetime | None = None,
) -> float | None:
    """Count a failed login for every key; return the seconds to wait if one is now locked."""
    if max_failures < 1 or lockout_seconds < 1:
        raise ValueError("max_failures and lockout_seconds must be at least 1")
    now = now or utcnow()
    digests = _digests(keys)
    try:
        return _record_failure(session, digests, max_failures, lockout_seconds, now)
    except (IntegrityError, OperationalError):
        # Another worker inserted the same key first (or a lock conflict): count again on its row.
        session.rollback()
        return _record_failure(session, digests, max_failures, lockout_seconds, now)


def _record_failure(
    session: Session,
    digests: list[str],
    max_failures: int,
    lockout_seconds: int,
    now: dt.datetime,
) -> float | None:
    window = dt.timedelta(seconds=lockout_seconds)
    rows = _rows(session, digests)
    waits: list[float] = []
    for digest in digests:
        row = rows.get(digest)
        if row is None:
            row = LoginThrottle(key=digest, failures=1, window_started_at=now, locked_until=None)
            session.add(row)
        elif row.locked_until is not None and row.locked_until > now:
            waits.append((row.locked_until - now).total_seconds())
            continue
        elif row.window_started_at + window <= now:
            row.failures = 1
            row.window_started_at = now
            row.locked_until = None
        else:
            row.failures = LoginThrottle.failures + 1  # atomic in SQL: no lost counts
        session.flush()
        if row.failures >= max_failures:  # reloads the incremented value
            row.failures = 0
            row.window_started_at = now
            row.locked_until = now + window
            session.flush()
            waits.append(float(lockout_seconds))
    return max(waits) if waits else None


def record_success(session: Session, keys: list[str]) -> None:
    """Forget the failures of these keys (pass the account key, not the client key)."""
    digests = _digests(keys)
    if digests:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(digests)))


def purge(session: Session, *, older_than_seconds: int, now: dt.datetime | None = None) -> int:
    """Delete rows whose window and lock ended more than `older_than_seconds` ago; return count."""
    cutoff = (now or utcnow()) - dt.timedelta(seconds=older_than_seconds)
    result = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_started_at < cutoff,
            (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < cutoff),
        )
    )
    return result.rowcount or 0
