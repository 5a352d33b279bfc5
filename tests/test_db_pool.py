"""The database pool on MariaDB: a connection the server dropped while it sat idle is replaced
before use; a busy one is not pinged, and the pool recovers from its failure on the next use.
Reads see every commit and cost no ROLLBACK.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import DBAPIError

from core import db


def connection_id(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar()


def kill(mysql_url: str, victim: int) -> None:
    admin = db.make_engine(mysql_url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"KILL CONNECTION {victim}")
    admin.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced(mysql_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = db.make_engine(mysql_url)
    victim = connection_id(engine)
    kill(mysql_url, victim)
    assert connection_id(engine) != victim
    engine.dispose()


def test_a_busy_connection_is_not_pinged_and_recovers_after_one_failure(mysql_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = db.make_engine(mysql_url)
    victim = connection_id(engine)
    kill(mysql_url, victim)
    with pytest.raises(DBAPIError) as failure:
        connection_id(engine)
    assert failure.value.connection_invalidated
    assert connection_id(engine) != victim
    engine.dispose()


def test_reads_see_each_commit_and_leave_no_transaction_to_end(mysql_url):
    from sqlalchemy import text, update

    from core.accounts import create_user
    from core.models import User

    engine = db.make_engine(mysql_url)
    sessions = db.make_sessions(engine)
    with db.session_scope(sessions) as session:
        user = create_user(session, f"pool-{uuid.uuid4().hex[:8]}@example.com", "a pass phrase")
        session.flush()
        user_id = user.id

    def read() -> tuple[bool, int]:
        with db.reading(sessions) as connection:
            active = connection.execute(
                text("SELECT is_active FROM users WHERE id = :id"), {"id": user_id}
            ).scalar()
            rollbacks = connection.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_rollback'")
            return bool(active), int(rollbacks.one()[1])

    first, rollbacks = read()
    with db.session_scope(sessions) as session:
        session.execute(update(User).where(User.id == user_id).values(is_active=False))
    # The same pooled connection (one thread): no snapshot of the first read lingers, and no
    # read ended a transaction with a ROLLBACK.
    assert first is True
    assert read() == (False, rollbacks)
    engine.dispose()
