"""Login throttling in the shared table: counting, locking, clearing and the insert race."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import pytest
from sqlalchemy import select

import core.throttle as throttle
from core.models import LoginThrottle
from core.throttle import account_key, check, client_key, purge, record_failure, record_success

T0 = dt.datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
MAX = 3
LOCKOUT = 300


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fail(session, keys, seconds):
    return record_failure(session, keys, max_failures=MAX, lockout_seconds=LOCKOUT, now=at(seconds))


@pytest.fixture
def keys(email):
    return [account_key(email), client_key(f"10.{uuid.uuid4().int % 250}.0.1")]


def test_nothing_recorded_means_no_wait(session, keys):
    assert check(session, keys, now=T0) is None
    assert check(session, [], now=T0) is None


def test_locks_at_max_failures(session, keys):
    assert fail(session, keys, 0) is None
    assert fail(session, keys, 10) is None
    assert check(session, keys, now=at(11)) is None
    assert fail(session, keys, 20) == LOCKOUT
    assert check(session, keys, now=at(20)) == pytest.approx(LOCKOUT)
    assert check(session, keys, now=at(120)) == pytest.approx(LOCKOUT - 100)
    assert check(session, keys[:1], now=at(120)) == pytest.approx(LOCKOUT - 100)
    # Failures during the lock do not extend it.
    assert fail(session, keys, 130) == pytest.approx(LOCKOUT - 110)
    assert check(session, keys, now=at(20 + LOCKOUT)) is None
    # After the lock the count starts again.
    assert fail(session, keys, 20 + LOCKOUT) is None
    assert fail(session, keys, 21 + LOCKOUT) is None
    assert fail(session, keys, 22 + LOCKOUT) == LOCKOUT


def test_failures_outside_the_window_do_not_add_up(session, keys):
    for step in range(MAX * 2):
        assert fail(session, keys, step * (LOCKOUT / 2 + 1)) is None


def test_one_locked_key_blocks(session, keys, email):
    other_client = client_key("192.0.2.7")
    for step in range(MAX):
        fail(session, [keys[0], client_key(f"192.0.2.{100 + step}")], step)
    assert check(session, [keys[0], other_client], now=at(5)) == pytest.approx(
        LOCKOUT - 3
    )  # locked at 2
    assert (
        check(session, [account_key("someone-else@example.com"), other_client], now=at(5)) is None
    )


def test_success_clears_only_the_given_keys(session, keys):
    fail(session, keys, 0)
    fail(session, keys, 1)
    record_success(session, keys[:1])
    assert fail(session, keys, 2) == LOCKOUT  # the client's third failure
    assert check(session, keys[:1], now=at(3)) is None  # the account's count restarted at 1
    assert check(session, keys[1:], now=at(3)) == pytest.approx(LOCKOUT - 1)
    record_success(session, [])


def test_keys_are_stored_as_digests(session, email):
    fail(session, [account_key(f"  {email.upper()}")], 0)
    stored = session.scalars(select(LoginThrottle.key)).all()
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in stored)
    assert not any(email in key for key in stored)
    # account_key normalises like the accounts module does.
    assert fail(session, [account_key(email)], 1) is None
    assert fail(session, [account_key(email)], 2) == LOCKOUT


def test_bad_limits_are_refused(session, keys):
    with pytest.raises(ValueError):
        record_failure(session, keys, max_failures=0, lockout_seconds=LOCKOUT)
    with pytest.raises(ValueError):
        record_failure(session, keys, max_failures=MAX, lockout_seconds=0)


def test_default_now_is_the_current_time(session, keys):
    record_failure(session, keys, max_failures=1, lockout_seconds=60)
    wait = check(session, keys)
    assert wait is not None and 55 < wait <= 60


def _stored(session, keys) -> set[str]:
    digests = {hashlib.sha256(key.encode()).hexdigest(): key for key in keys}
    rows = session.scalars(select(LoginThrottle.key).where(LoginThrottle.key.in_(digests)))
    return {digests[digest] for digest in rows}


def test_purge_removes_stale_rows_and_keeps_live_ones(session, keys):
    fail(session, keys[:1], 0)  # a window that ends at LOCKOUT, no lock
    for step in range(MAX):
        fail(session, keys[1:], step)  # locked until MAX - 1 + LOCKOUT
    # Other tests' rows may go too (the table is shared): count only ours.
    purge(session, older_than_seconds=LOCKOUT, now=at(LOCKOUT + 10))
    assert _stored(session, keys) == {keys[1]}
    assert check(session, keys, now=at(10)) == pytest.approx(LOCKOUT - 8)  # lock kept
    purge(session, older_than_seconds=LOCKOUT, now=at(2 * LOCKOUT + MAX))
    assert _stored(session, keys) == set()


def test_concurrent_first_failure_is_counted_on_the_other_row(db_sessions, keys, monkeypatch):
    """Two workers see no row and both insert: the loser rolls back and counts on the winner's."""
    try:
        with db_sessions() as first:
            fail(first, keys, 0)
            first.commit()
        real_rows = throttle._rows
        looked = []

        def rows(session, digests):
            # The first look-up misses the committed rows, as a racing worker's would.
            looked.append(1)
            return {} if len(looked) == 1 else real_rows(session, digests)

        monkeypatch.setattr(throttle, "_rows", rows)
        attempts = []
        real_record = throttle._record_failure
        monkeypatch.setattr(
            throttle, "_record_failure", lambda *a: attempts.append(1) or real_record(*a)
        )
        with db_sessions() as second:
            assert fail(second, keys, 1) is None
            second.commit()
        assert len(attempts) == 2  # the insert conflicted and was retried
        monkeypatch.undo()
        with db_sessions() as third:
            assert fail(third, keys, 2) == LOCKOUT  # 1 + 1 + 1: nothing was lost
            third.commit()
    finally:
        with db_sessions() as cleanup:
            record_success(cleanup, keys)
            cleanup.commit()
