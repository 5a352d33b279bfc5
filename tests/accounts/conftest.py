"""Database fixtures for the account tests: a private SQLite database, plus MariaDB when it runs.

The SQLite database lives in this process's pytest tmp dir, so xdist workers never share it.
The MariaDB variant uses the project's `sessions` fixture (skipped when the service is absent);
those tests only flush and roll back, or use unique keys and e-mails and delete what they commit.
"""

from __future__ import annotations

import uuid

import pytest

from core.db import make_engine, make_sessions
from core.models import Base


@pytest.fixture(scope="session")
def sqlite_sessions(tmp_path_factory):
    """Return a session factory on a fresh SQLite database with every table."""
    path = tmp_path_factory.mktemp("accounts-db") / "accounts.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    yield make_sessions(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "mariadb"])
def db_sessions(request):
    """Return a session factory on SQLite, then on the run's MariaDB database."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_sessions")
    return request.getfixturevalue("sessions")


@pytest.fixture
def session(db_sessions):
    """Yield a session that is rolled back after the test."""
    session = db_sessions()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def email() -> str:
    """Return an e-mail address no other test uses."""
    return f"user-{uuid.uuid4().hex[:12]}@example.com"
