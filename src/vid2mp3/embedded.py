"""`vid2mp3 run`: the whole service in one process for a laptop, with no external servers.

SQLite, a local blob folder, the stub broker with worker threads in the web process, and mail
written to an outbox folder, all under DATA_DIR. The first run creates an admin account.
"""

from __future__ import annotations

import atexit
import secrets
import sys

from core.db import make_engine, make_sessions, session_scope
from core.settings import Settings
from vid2mp3.migrate import upgrade_to_head
from vid2mp3.server import GunicornApp, gunicorn_options

DEFAULT_ADMIN = "admin@localhost"


def run_embedded(settings: Settings, host: str, port: int) -> int:
    """Prepare DATA_DIR, then serve the app and the pipeline from one gunicorn worker."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.database_url)
    url = f"http://{host}:{port}"
    login = ensure_first_admin(settings, url)
    print(
        f"vid2mp3 is running at {url}: open it in a browser (state in {settings.data_dir})",
        file=sys.stderr,
    )
    if login:
        print(login, file=sys.stderr)
    # One worker process: the stub broker lives in memory, so the web app and the actors that
    # consume its messages must share a process.
    options = gunicorn_options(settings, host, port, workers=1, threads=8)
    GunicornApp(lambda: _build(settings), options).run()
    return 0


def _build(settings: Settings):
    from actors.embedded import start_embedded_worker
    from vid2mp3.wiring import build_web_app

    worker = start_embedded_worker(settings)
    # Stopped at exit: running conversions are interrupted and requeued, not lost.
    atexit.register(worker.stop)
    return build_web_app(settings, broker=worker.broker)


def ensure_first_admin(settings: Settings, url: str) -> str | None:
    """Create the first admin when there are no accounts; return how to log in, else None."""
    from core.accounts import create_user, list_users

    email = settings.admin_email or DEFAULT_ADMIN
    password = settings.admin_password or secrets.token_urlsafe(12)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessions(engine)) as session:
            if list_users(session):
                return None
            create_user(session, email, password, is_admin=True)
    finally:
        engine.dispose()
    if settings.admin_password:
        return f"created admin account {email} with the password in ADMIN_PASSWORD"
    return (
        f"created admin account {email} with password {password}\n"
        f"  sign in at {url}, or: curl -u '{email}:{password}' -X POST {url}/login\n"
        f"  (shown once; change it with: vid2mp3 users set-password {email})"
    )
