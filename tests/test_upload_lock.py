"""core.uploads: one writer per upload by compare-and-set; a stalled writer is fenced off."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from core import uploads
from core.db import session_scope
from core.models import Upload


@pytest.fixture
def upload_id(sessions, make_user):
    owner = make_user()
    with session_scope(sessions) as session:
        return uploads.create(session, owner.id, 100, "a.mp4", None, {}, 3600).id, owner.id


def test_a_second_writer_waits_then_is_refused(sessions, upload_id):
    upload, owner = upload_id
    first = uploads.acquire(sessions, upload, owner, 0)
    with pytest.raises(uploads.UploadBusy):
        uploads.acquire(sessions, upload, owner, 0, wait=0.2)
    assert first.release(40, expiry_seconds=60)
    with pytest.raises(uploads.OffsetMismatch) as mismatch:
        uploads.acquire(sessions, upload, owner, 0, wait=0)
    assert mismatch.value.received == 40
    uploads.acquire(sessions, upload, owner, 40, wait=0).release()
    with pytest.raises(uploads.UploadGone):
        uploads.acquire(sessions, upload, owner + 1, 40, wait=0)


def test_a_stalled_writer_loses_its_lock_and_its_release(sessions, upload_id):
    upload, owner = upload_id
    now = [0.0]
    stalled = uploads.Lock(sessions, upload, "stalled-writer", clock=lambda: now[0])
    with session_scope(sessions) as session:
        session.execute(
            update(Upload)
            .where(Upload.id == upload)
            .values(
                lock_token="stalled-writer",
                locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
            )
        )
    taker = uploads.acquire(sessions, upload, owner, 0, wait=0)  # the hold had lapsed
    stalled.keep()  # within a third of the lock's time: no database round trip, no check
    now[0] = uploads.LOCK_SECONDS / 3
    with pytest.raises(uploads.LockLost):
        stalled.keep()
    assert not stalled.release(99, expiry_seconds=60)
    assert taker.release(10, expiry_seconds=60)
    with session_scope(sessions) as session:
        assert session.get(Upload, upload).received == 10
