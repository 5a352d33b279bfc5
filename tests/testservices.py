"""Start and reach the real backing services the tests use, once per test run.

The controller process (or a lone pytest) prepares a fresh MariaDB database migrated to head and
one secantusdb (MongoDB wire protocol) server, then hands their URLs to the xdist workers through
environment variables. A service that cannot be reached skips its tests on a laptop and fails
them under CI=true, so a broken CI machine is never green.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from vid2mp3.migrate import alembic_config

MYSQL_ADMIN_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_ENV_PREFIX = "VID2MP3_TEST_"
TEST_PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-" + "x" * 40


def in_ci() -> bool:
    """Tell whether this run is CI's, where a missing service is a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, why: str):
    """Skip (laptop) or fail (CI) a test whose backing service is not there."""
    message = f"{what} is not available: {why}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Wait until something listens on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f}s")


def port_open(host: str, port: int) -> bool:
    """Tell whether a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class RunServices:
    """The per-run services, set up by the controller and read back by every worker."""

    def __init__(self) -> None:
        self._mongo: subprocess.Popen | None = None
        self._mongo_dir: str | None = None
        self._database: str | None = None

    # -- controller side -------------------------------------------------------------
    def start(self) -> None:
        """Create the run's MariaDB database and secantusdb server; publish their URLs."""
        self._publish("MYSQL_URL", self._create_mysql_database)
        self._publish("MONGO_URI", self._start_mongo)

    def stop(self) -> None:
        """Remove what `start` made."""
        if self._mongo is not None:
            self._mongo.terminate()
            try:
                self._mongo.wait(10)
            except subprocess.TimeoutExpired:
                self._mongo.kill()
        if self._mongo_dir:
            shutil.rmtree(self._mongo_dir, ignore_errors=True)
        if self._database:
            drop_mysql_database(f"{MYSQL_ADMIN_URL}/{self._database}")

    def _publish(self, name: str, starter) -> None:
        try:
            os.environ[_ENV_PREFIX + name] = starter()
        except Exception as error:
            os.environ[_ENV_PREFIX + name + "_ERROR"] = f"{type(error).__name__}: {error}"

    def _create_mysql_database(self) -> str:
        url = create_mysql_database()
        self._database = url.rsplit("/", 1)[1]
        return url

    def _start_mongo(self) -> str:
        self._mongo_dir = tempfile.mkdtemp(prefix="vid2mp3-mongo-")
        port = free_port()
        server = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
        self._mongo = subprocess.Popen(
            [
                *(server, "--host", "127.0.0.1", "--port", str(port), "--standalone"),
                *("--storage-path", self._mongo_dir, "--cache-size", "256M"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port)
        return f"mongodb://127.0.0.1:{port}"


def create_mysql_database() -> str:
    """Create a MariaDB database of one's own, migrated to head; return its URL."""
    import sqlalchemy
    from alembic import command

    name = f"vid2mp3_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(MYSQL_ADMIN_URL, connect_args={"connect_timeout": 5})
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    admin.dispose()
    url = f"{MYSQL_ADMIN_URL}/{name}"
    command.upgrade(alembic_config(url), "head")
    return url


def drop_mysql_database(url: str) -> None:
    """Drop the database `create_mysql_database` made."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(MYSQL_ADMIN_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1]}`")
    engine.dispose()


def delete_rabbitmq_queues(url: str, names: list[str]) -> None:
    """Delete a test's private queues (with Dramatiq's delay and dead-letter queues)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for name in names:
            for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                channel.queue_delete(queue)
    finally:
        connection.close()


def service_url(name: str, what: str) -> str:
    """Return a per-run service URL published by the controller, or skip/fail the test."""
    url = os.environ.get(_ENV_PREFIX + name)
    if not url:
        unavailable(what, os.environ.get(_ENV_PREFIX + name + "_ERROR", "not started"))
    return url
