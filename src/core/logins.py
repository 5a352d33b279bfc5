"""Check one login attempt against the throttle and the account: every sign-in path uses it.

The API's `POST /login` and the browser's sign-in form both call `attempt`, so they share one
count of failures per account and per client address.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import accounts, throttle
from core.models import User

# A client address may be a whole office behind NAT: it gets more tries than one account.
CLIENT_FAILURE_FACTOR = 4


class Throttled(Exception):
    """Too many failed logins: answer 429 and wait `seconds` before the next try."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"throttled for {seconds:.0f} s")
        self.seconds = seconds


def attempt(
    session: Session,
    email: str,
    password: str,
    client_address: str,
    *,
    max_failures: int,
    lockout_seconds: int,
) -> User | None:
    """Return the account for these credentials, None if they are wrong; raise Throttled."""
    account = throttle.account_key(email)
    client = throttle.client_key(client_address or "unknown")
    wait = throttle.check(session, [account, client])
    if wait is not None:
        raise Throttled(wait)
    user = accounts.authenticate(session, email, password)
    if user is None:
        throttle.record_failure(
            session, [account], max_failures=max_failures, lockout_seconds=lockout_seconds
        )
        throttle.record_failure(
            session,
            [client],
            max_failures=max_failures * CLIENT_FAILURE_FACTOR,
            lockout_seconds=lockout_seconds,
        )
    else:
        throttle.record_success(session, [account])
    return user
