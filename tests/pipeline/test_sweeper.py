"""The worker's housekeeping round: old throttle rows and expired uploads go, live ones stay."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import delete, select

from actors.runtime import Runtime
from actors.sweeper import Sweeper
from core import uploads
from core.db import session_scope
from core.models import LoginThrottle, Upload
from core.storage import StorageError


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


def test_a_sweep_removes_expired_uploads_and_their_bytes(settings, sessions, tmp_path, make_user):
    settings = settings.replace(stuck_job_seconds=86_400)
    owner = make_user()
    runtime = Runtime(settings, work_root=tmp_path / "work")
    store = runtime.store
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with session_scope(sessions) as session:
        expired = uploads.create(session, owner.id, 10, "a.mp4", None, {}, 60)
        held = uploads.create(session, owner.id, 10, "b.mp4", None, {}, 60)
        live = uploads.create(session, owner.id, 10, "c.mp4", None, {}, 60)
        ids = expired.id, held.id, live.id
        expired.expires_at = held.expires_at = past
        held.lock_token, held.locked_until = "writer", past + dt.timedelta(minutes=5)
    for upload_id in ids:
        store.append("videos", upload_id, 0, io.BytesIO(b"12345"))
    try:
        Sweeper(runtime, lambda job_id, step: None).sweep()
        with session_scope(sessions) as session:
            left = set(session.scalars(select(Upload.id).where(Upload.id.in_(ids))))
        assert left == {held.id, live.id}
        with pytest.raises(StorageError, match="unfinished blob"):
            store.finish_append("videos", expired.id, 5, filename="a.mp4")
        assert store.finish_append("videos", live.id, 5, filename="c.mp4").size == 5
    finally:
        runtime.close()
