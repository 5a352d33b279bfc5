"""The database pool on MariaDB: a connection the server dropped while it sat idle is replaced
before use; a busy one is not pinged, and the pool recovers from its failure on the next use.
"""

from __future__ import annotations

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
