"""The worker's housekeeping round: old login_throttle rows go, live ones stay."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select

from actors.runtime import Runtime
from actors.sweeper import Sweeper
from core.db import session_scope
from core.models import LoginThrottle


def test_a_sweep_purges_old_login_throttle_rows(settings, sessions, tmp_path):
    # No job is stuck for a day: the round touches no other test's jobs.
    settings = settings.replace(stuck_job_seconds=86_400, login_lockout_seconds=300)
    now = dt.datetime.now(dt.UTC)
    old, live = uuid.uuid4().hex + "old", uuid.uuid4().hex + "new"
    with session_scope(sessions) as session:
        session.add(
            LoginThrottle(key=old, failures=2, window_started_at=now - dt.timedelta(hours=1))
        )
        session.add(LoginThrottle(key=live, failures=2, window_started_at=now))
    runtime = Runtime(settings, work_root=tmp_path / "work")
    sent: list = []
    try:
        Sweeper(runtime, lambda job_id, step: sent.append(job_id)).sweep()
    finally:
        runtime.close()
    with session_scope(sessions) as session:
        keys = set(
            session.scalars(select(LoginThrottle.key).where(LoginThrottle.key.in_([old, live])))
        )
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == live))
    assert keys == {live}
    assert sent == []
