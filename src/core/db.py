"""Own the SQLAlchemy engine and sessions: one engine per process, one session per unit of work.

Also the database's own failure vocabulary: whether the schema is at the revision the code needs,
and one line that says what went wrong and how to fix it (for the command line and readiness).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

# MySQL/MariaDB error codes (pymysql puts them first in `orig.args`).
_NO_SUCH_TABLE, _BAD_FIELD = 1146, 1054
_UNKNOWN_DATABASE, _ACCESS_DENIED = 1049, (1044, 1045, 1698)
_CANNOT_CONNECT, _UNKNOWN_HOST, _LOST_CONNECTION = 2003, 2005, 2013
# A pooled connection unused for this long is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 1.0
# Connections a process keeps open: at least a web worker's 8 gthread threads. With fewer, a busy
# worker opens an overflow connection (TCP, TLS context, handshake, eight set-up queries) and
# closes it again on nearly every request, which cost more than the request's own queries.
POOL_SIZE = 10
# The autocommit twin of each database server's engine, for `reading` (see `make_engine`).
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


class SchemaNotCurrent(Exception):
    """The database's schema is missing or at another revision than this release needs."""


def make_engine(url: str, timeout: float = 10.0) -> Engine:
    """Create the engine for `url` with the settings each backend needs to behave.

    `timeout` bounds every wait on a database server (connect, each read and write, a free pooled
    connection), so a hung server turns into an error within seconds instead of a hung request.
    """
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    if url.startswith("mysql://"):
        url = "mysql+pymysql://" + url.removeprefix("mysql://")
    engine = _server_engine(url, timeout)
    # Reads (`reading`) go through a twin in autocommit mode: each statement sees the latest
    # commits without a transaction around it, so a read costs one round trip, no ROLLBACK.
    reader = _server_engine(
        url, timeout, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True
    )
    _READERS[engine] = reader
    event.listen(engine, "engine_disposed", lambda _engine: reader.dispose())
    return engine


def _server_engine(url: str, timeout: float, **options) -> Engine:
    # Survive a database restart (ping idle connections) and MySQL's idle-connection timeout
    # (recycle). No rollback when a connection goes back to the pool: sessions and connections
    # end their own transactions (commit, rollback or close), so that would be a second round
    # trip after every commit.
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        pool_recycle=1800,
        pool_reset_on_return=None,
        pool_timeout=timeout,
        connect_args={
            "charset": "utf8mb4",
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "write_timeout": timeout,
        },
        **options,
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _idle_ping(engine.dialect))
    return engine


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["checked_in"] = time.monotonic()


def _idle_ping(dialect):
    """Return a checkout hook that pings a connection that sat in the pool, not a busy one.

    pool_pre_ping costs a round trip on every checkout, a large share of a cheap read. A
    connection used a moment ago is alive (if the database died since, its first statement fails,
    and that makes the pool replace every older connection); one that sat idle may have been cut
    by a restart or a proxy unnoticed. The pool replaces a connection that fails the ping.
    """

    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle = time.monotonic() - record.info.get("checked_in", float("-inf"))
        if idle < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"idle connection failed its ping: {error}") from error

    return ping_if_idle


def _tune_sqlite(dbapi_connection, _record) -> None:
    # WAL lets the embedded worker write while the web app reads; foreign keys are off by default.
    # MariaDB's md5() and concat() for statements both run (SQLite 3.40 has neither).
    dbapi_connection.create_function("md5", 1, _md5, deterministic=True)
    dbapi_connection.create_function("concat", -1, _concat, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _md5(text: str | None) -> str | None:
    return None if text is None else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _concat(*parts: str | None) -> str | None:
    return None if None in parts else "".join(str(part) for part in parts)


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory used by the web app, the workers and the command line."""
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error."""
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextlib.contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """Yield a connection for read-only Core statements.

    For the hot read paths (every request's token check, `GET /jobs`): with statements built once
    and run here, a read skips the ORM's objects and unit of work. On a database server each
    statement runs on its own in autocommit mode (one round trip, no transaction to end); on
    SQLite, in the process itself, in a transaction rolled back on exit.
    """
    reader = _READERS.get(sessions.kw["bind"])
    if reader is None:
        with sessions() as session:
            yield session.connection()
        return
    with reader.connect() as connection:
        yield connection


def check_schema(session: Session, expected_revision: str) -> None:
    """Raise `SchemaNotCurrent` unless alembic's recorded revision is `expected_revision`."""
    connection = session.connection()
    current = None
    if inspect(connection).has_table("alembic_version"):
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current is None:
        raise SchemaNotCurrent("the database has no vid2mp3 schema: run `vid2mp3 migrate`")
    if current != expected_revision:
        raise SchemaNotCurrent(
            f"the database schema is at revision {current}, this release needs"
            f" {expected_revision}: run `vid2mp3 migrate`"
        )


def is_schema_error(error: DBAPIError) -> bool:
    """Tell whether `error` comes from a missing table or column (an unmigrated database)."""
    code = _mysql_code(error)
    if code is not None:
        return code in (_NO_SUCH_TABLE, _BAD_FIELD)
    message = str(error.orig).lower()
    return "no such table" in message or "no such column" in message


def describe_error(error: DBAPIError, url: str) -> str:
    """Return one line naming what went wrong with the database at `url` and what to do."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        server, database = "SQLite", parsed.database or ":memory:"
    else:
        server = f"{parsed.host or 'localhost'}:{parsed.port or 3306}"
        database = f"'{parsed.database}' on {server}"
    code = _mysql_code(error)
    if is_schema_error(error):
        return f"the database {database} lacks the vid2mp3 schema: run `vid2mp3 migrate`"
    if code in (_CANNOT_CONNECT, _UNKNOWN_HOST, _LOST_CONNECTION):
        return f"cannot reach the database server at {server}: is it running? check DATABASE_URL"
    if code == _UNKNOWN_DATABASE:
        return f"the database {database} does not exist: create it, or fix DATABASE_URL"
    if code in _ACCESS_DENIED:
        return f"{server} refused the database user: check the credentials in DATABASE_URL"
    if "unable to open database file" in str(error.orig):
        return f"cannot open the SQLite file {database}: check DATABASE_URL or DATA_DIR"
    first_line = str(error.orig).splitlines()[0] if str(error.orig) else ""
    return f"database error on {server}: {type(error.orig).__name__}: {first_line[:200]}"


def _mysql_code(error: DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
