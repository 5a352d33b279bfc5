"""Check that the migrations build the models' schema on MariaDB and SQLite, both ways."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.models import Base
from testservices import MYSQL_ADMIN_URL, alembic_config


def _assert_models_match(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def scratch_mysql_url(mysql_url):
    name = f"vid2mp3_mig_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(MYSQL_ADMIN_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield f"{MYSQL_ADMIN_URL}/{name}"
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    return request.getfixturevalue("scratch_mysql_url")


def test_upgrade_matches_models_and_downgrade_empties(database_url):
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    _assert_models_match(database_url)
    command.downgrade(config, "base")
    assert _tables(database_url) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert {"users", "jobs", "login_throttle", "revoked_tokens"} <= _tables(database_url)


def test_run_database_is_at_head(mysql_url):
    _assert_models_match(mysql_url)
