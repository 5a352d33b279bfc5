"""Fixtures shared by every test: the run's services, settings, database sessions and users."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.db import make_engine, make_sessions, session_scope
from core.settings import Settings
from testservices import (
    RABBITMQ_URL,
    REDIS_URL,
    TEST_PASSWORD,
    TEST_SECRET,
    RunServices,
    create_mysql_database,
    drop_mysql_database,
    free_port,
    port_open,
    service_url,
    unavailable,
    wait_for_port,
)

_run_services = RunServices()
VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")


def pytest_configure(config):
    # Only the controller (or a lone pytest) owns the run's services; xdist workers inherit the
    # URLs through the environment, as they are started after this hook.
    if not hasattr(config, "workerinput"):
        _run_services.start()


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        _run_services.stop()


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """Return the URL of this run's MariaDB database, migrated to head."""
    return service_url("MYSQL_URL", "MariaDB")


@pytest.fixture
def own_mysql_url(mysql_url) -> str:
    """Return a MariaDB database of this test alone, migrated to head; dropped afterwards.

    For tests that run a real worker: its outbox dispatcher and sweeper take up every unsent or
    stuck job in its database, so on the run's shared database it would steal other tests' jobs.
    """
    url = create_mysql_database()
    try:
        yield url
    finally:
        drop_mysql_database(url)


@pytest.fixture(scope="session")
def mongo_uri() -> str:
    """Return the URI of this run's secantusdb server (MongoDB wire protocol)."""
    return service_url("MONGO_URI", "secantusdb")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """Return RabbitMQ's URL, or skip/fail when it is down."""
    if not port_open("127.0.0.1", 5672):
        unavailable("RabbitMQ", "nothing listens on 127.0.0.1:5672")
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return Redis' URL, or skip/fail when it is down."""
    if not port_open("127.0.0.1", 6379):
        unavailable("Redis", "nothing listens on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture(scope="session")
def engine(mysql_url):
    """Return an engine on the run's MariaDB database."""
    engine = make_engine(mysql_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine):
    """Return the session factory on the run's MariaDB database."""
    return make_sessions(engine)


@pytest.fixture
def settings(tmp_path, mysql_url, mongo_uri) -> Settings:
    """Return settings for the real services, with a database of blobs private to the test."""
    environ = {
        "DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": mysql_url,
        "STORAGE_URL": f"{mongo_uri}/t_{uuid.uuid4().hex[:12]}",
        "BROKER_URL": "stub://",
        "JWT_SECRET": TEST_SECRET,
        "PUBLIC_URL": "http://testserver",
    }
    return Settings.from_env(environ)


@pytest.fixture
def make_user(sessions):
    """Create users with unique e-mails, so parallel tests never share an account."""
    from core.accounts import create_user

    def make(*, is_admin: bool = False, email: str | None = None, password: str = TEST_PASSWORD):
        email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
        with session_scope(sessions) as session:
            user = create_user(session, email, password, is_admin=is_admin)
            session.flush()
            session.expunge(user)
        return user

    return make


@pytest.fixture(autouse=True, scope="session")
def _quiet_environment():
    # The tests pass their settings explicitly; a developer's own variables must not leak in.
    for name in ("DATABASE_URL", "STORAGE_URL", "BROKER_URL", "SMTP_URL", "JWT_SECRET"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """Return a 2-second H.264/AAC MP4."""
    from media import make_clip

    return make_clip(tmp_path_factory.mktemp("media") / "clip.mp4")


@pytest.fixture
def start_web(mysql_url, mongo_uri, tmp_path):
    """Return start(workers=1, **env) -> base URL of a `vid2mp3 serve` on the run's services."""
    processes = []

    def start(workers: int = 1, **env: str) -> str:
        port = free_port()
        environ = {
            **os.environ,
            "DATA_DIR": str(tmp_path / "var"),
            "DATABASE_URL": mysql_url,
            "STORAGE_URL": f"{mongo_uri}/serve_{os.getpid()}",
            "BROKER_URL": "stub://",
            "JWT_SECRET": TEST_SECRET,
            **env,
        }
        processes.append(
            subprocess.Popen(
                [
                    VID2MP3,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        wait_for_port(port, timeout=30)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert "Traceback" not in output, output
