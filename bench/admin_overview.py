"""Benchmark the admin overview (`GET /admin/api/overview`) and `/metrics` with 100,000 jobs.

Creates a fresh MariaDB database, migrates it, fills it with `--jobs` jobs of many users spread
over the last 30 days (states as a busy service has them: mostly done, some failed, a few
running), then asks the overview, then `/metrics` (jobs by state are counted at each scrape),
`--requests` times each through the app in-process (Falcon's test client, no network), as an
admin with a password login, and prints the latency percentiles.
The database is dropped afterwards.

    .venv/bin/python bench/admin_overview.py [--jobs 100000] [--requests 200]
        [--mysql mysql+pymysql://root@127.0.0.1:3306]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account in a throwaway database
# The overview, and the Prometheus scrape, whose job gauges count the same table.
PATHS = ("/admin/api/overview", "/metrics")
STATES = ["done"] * 90 + ["failed"] * 6 + ["cancelled"] * 2 + ["queued", "converting"]


def seed(database_url: str, jobs: int) -> None:
    """Migrate and add `jobs` jobs spread over 30 days, plus an admin; in batches of 5,000."""
    from core.db import make_engine
    from core.models import Job, User
    from vid2mp3.migrate import upgrade_to_head

    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    rng = random.Random(8)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.insert(User.__table__),
            [
                {
                    "email": f"u{i}@example.com",
                    "password_hash": "x",
                    "is_admin": False,
                    "is_active": True,
                    "created_at": now,
                }
                for i in range(200)
            ],
        )
        user_ids = [row[0] for row in connection.execute(sqlalchemy.select(User.id))]
    for start in range(0, jobs, 5000):
        rows = []
        for _ in range(start, min(jobs, start + 5000)):
            created = now - dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
            state = rng.choice(STATES)
            started = created + dt.timedelta(seconds=rng.uniform(0.1, 30))
            converted = started + dt.timedelta(seconds=rng.uniform(2, 120))
            finished = converted + dt.timedelta(seconds=1) if state != "queued" else None
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "user_id": rng.choice(user_ids),
                    "state": state,
                    "reason": "The conversion was stopped before it finished."
                    if state == "failed"
                    else None,
                    "attempts": 1,
                    "progress": 100.0,
                    "original_filename": "clip.mp4",
                    "keep_video": False,
                    "created_at": created,
                    "updated_at": finished or created,
                    "started_at": started,
                    "converted_at": converted,
                    "finished_at": finished if state not in ("queued", "converting") else None,
                }
            )
        with engine.begin() as connection:
            connection.execute(sqlalchemy.insert(Job.__table__), rows)
    engine.dispose()


def measure(database_url: str, requests: int) -> dict[str, list[float]]:
    """Return the response times in milliseconds of each of `PATHS`."""
    import falcon.testing

    from actors.broker import setup_broker
    from actors.queues import QueueAdmin
    from core.accounts import create_user
    from core.db import session_scope
    from core.settings import Settings
    from vid2mp3.services import build_services
    from web import state_metrics
    from web.app import create_app

    state_metrics.MIN_INTERVAL = 0.0  # time the scrape's queries, not the reuse of a reading

    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "DATA_DIR": tempfile.mkdtemp(prefix="admin-bench-"),
            "JWT_SECRET": "a bench secret that is long enough to pass 32",
        }
    )
    services = build_services(settings)
    with session_scope(services.sessions) as session:
        create_user(session, "admin@example.com", PASSWORD, is_admin=True)
    broker = setup_broker(settings)
    app = create_app(
        settings,
        services.sessions,
        services.store,
        services.tokens,
        enqueue=lambda job_id, step: None,
        queues=QueueAdmin(broker),
    )
    client = falcon.testing.TestClient(app)
    token = client.simulate_post(
        "/login", json={"email": "admin@example.com", "password": PASSWORD}
    ).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    times = {path: [] for path in PATHS}
    for path, samples in times.items():
        for _ in range(requests + 5):
            began = time.perf_counter()
            result = client.simulate_get(path, headers=headers)
            samples.append((time.perf_counter() - began) * 1000)
            assert result.status_code == 200, result.text
        del samples[:5]  # the first requests warm caches and connections
    services.close()
    overview = client.simulate_get("/admin/api/overview", headers=headers).json
    print("overview:", {k: v for k, v in overview.items() if k != "queues"})
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--mysql", default="mysql+pymysql://root@127.0.0.1:3306")
    args = parser.parse_args()
    name = f"vid2mp3_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(args.mysql)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        began = time.perf_counter()
        seed(f"{args.mysql}/{name}", args.jobs)
        print(f"seeded {args.jobs} jobs in {time.perf_counter() - began:.0f} s")
        for path, samples in measure(f"{args.mysql}/{name}", args.requests).items():
            times = sorted(samples)
            p95 = times[int(len(times) * 0.95) - 1]
            print(
                f"GET {path} x{len(times)}: p50 {statistics.median(times):.1f} ms, "
                f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms"
            )
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()


if __name__ == "__main__":
    main()
