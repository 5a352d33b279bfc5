"""Keep resumable uploads in the database: their offset, their one writer, their expiry.

An upload's bytes go to the blob store (`BlobStore.append`); its row in `uploads` says how many
of them are good (`received`) and who may write next. Many web workers and pods serve the same
upload, so the row carries a lock taken by a compare-and-set, never by reading then writing:

- `acquire` sets a random `lock_token` and `locked_until` in one UPDATE that matches only an
  unfinished, unexpired upload of that user, at the offset the client claims, whose lock is free
  or lapsed. When no row matches, `classify` tells why: not found, expired, busy (waited for a
  few seconds first: the holder is often the cut request a client is retrying), or another
  offset. `settled` reads the offset the same way, once no request is writing.
- While it writes, the holder calls `Lock.keep` before each piece: after a third of the lock's
  time it renews the hold (UPDATE ... WHERE lock_token = mine); if that fails the hold was lost
  (it stalled past `LOCK_SECONDS` and another writer took over) and it must stop writing. A
  holder thus writes only within a third of `LOCK_SECONDS` of a renewal, and nobody can take the
  lock until a full `LOCK_SECONDS` after it.
- `release` records the new offset (and the finish) under the same token, frees the lock and
  moves the expiry on: an upload expires `UPLOAD_EXPIRY_SECONDS` after its last progress.

The sweeper removes expired uploads with `sweep_expired`, again by compare-and-set, so it
never removes an upload that a writer holds.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from core.models import Upload, utcnow
from core.storage import BlobStore

# A writer that shows no progress for this long loses its hold on the upload.
LOCK_SECONDS = 60.0
# How long a request waits for another one's hold to end before it answers "busy".
LOCK_WAIT = 5.0
LOCK_POLL = 0.05


class UploadGone(LookupError):
    """No such upload for this user (HTTP 404)."""


class UploadExpired(LookupError):
    """The upload expired and is about to be removed (HTTP 410)."""


class OffsetMismatch(Exception):
    """The client's offset is not the upload's (HTTP 409); `received` is the right one."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the upload is at offset {received}")
        self.received = received


class UploadBusy(Exception):
    """Another request is writing to this upload right now (HTTP 423)."""


class LockLost(Exception):
    """The writer held the upload too long without progress and another one took it."""


def _free(now: dt.datetime):
    return or_(Upload.locked_until.is_(None), Upload.locked_until < now)


def create(
    session: Session,
    user_id: int,
    length: int,
    filename: str,
    content_type: str | None,
    fields: dict[str, str],
    expiry_seconds: float,
) -> Upload:
    """Add a new upload row (the caller commits) and return it."""
    upload = Upload(
        user_id=user_id,
        length=length,
        received=0,
        filename=filename,
        content_type=content_type,
        fields=fields,
        expires_at=utcnow() + dt.timedelta(seconds=expiry_seconds),
    )
    session.add(upload)
    session.flush()
    return upload


def find(session: Session, upload_id: str, user_id: int) -> Upload:
    """Return the user's upload; UploadGone if there is none, UploadExpired if it lapsed."""
    upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user_id:
        raise UploadGone(upload_id)
    if upload.finished_at is None and upload.expires_at <= utcnow():
        raise UploadExpired(upload_id)
    return upload


class Lock:
    """The hold of one request on one upload; see the module docstring."""

    def __init__(
        self, sessions: sessionmaker, upload_id: str, token: str, clock: Callable = time.monotonic
    ) -> None:
        self._sessions = sessions
        self.upload_id = upload_id
        self.token = token
        self._clock = clock
        self._renewed = clock()
        self.expires_at: dt.datetime | None = None  # set by `release` with a new offset

    def _mine(self):
        return (Upload.id == self.upload_id) & (Upload.lock_token == self.token)

    def keep(self) -> None:
        """Renew the hold when a third of its time has passed; LockLost if it was taken."""
        if self._clock() - self._renewed < LOCK_SECONDS / 3:
            return
        with session_scope(self._sessions) as session:
            until = utcnow() + dt.timedelta(seconds=LOCK_SECONDS)
            renewed = session.execute(
                update(Upload).where(self._mine()).values(locked_until=until)
            ).rowcount
        if not renewed:
            raise LockLost(self.upload_id)
        self._renewed = self._clock()

    def release(
        self, received: int | None = None, *, finished: bool = False, expiry_seconds: float = 0
    ) -> bool:
        """Record the new offset (if given), free the lock; False if the hold was lost."""
        values: dict = {"lock_token": None, "locked_until": None}
        if received is not None:
            values["received"] = received
            values["expires_at"] = self.expires_at = utcnow() + dt.timedelta(seconds=expiry_seconds)
        if finished:
            values["finished_at"] = utcnow()
        with session_scope(self._sessions) as session:
            released = session.execute(update(Upload).where(self._mine()).values(**values))
            return bool(released.rowcount)


def acquire(
    sessions: sessionmaker, upload_id: str, user_id: int, offset: int, wait: float = LOCK_WAIT
) -> Lock:
    """Take the upload's lock for a write at `offset`, or raise why not (see `classify`).

    A held lock is waited for up to `wait` seconds: the holder is often a request whose client
    has just gone (and is retrying now); once it has recorded its bytes, this one can go on
    or learn the new offset.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            return _try_acquire(sessions, upload_id, user_id, offset)
        except UploadBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(LOCK_POLL)


def _try_acquire(sessions: sessionmaker, upload_id: str, user_id: int, offset: int) -> Lock:
    token = secrets.token_hex(16)
    now = utcnow()
    with session_scope(sessions) as session:
        taken = session.execute(
            update(Upload)
            .where(
                Upload.id == upload_id,
                Upload.user_id == user_id,
                Upload.received == offset,
                Upload.finished_at.is_(None),
                Upload.expires_at > now,
                _free(now),
            )
            .values(lock_token=token, locked_until=now + dt.timedelta(seconds=LOCK_SECONDS))
        ).rowcount
        if not taken:
            classify(session, upload_id, user_id, offset)
    return Lock(sessions, upload_id, token)


def classify(session: Session, upload_id: str, user_id: int, offset: int) -> None:
    """Raise the reason a write at `offset` cannot start now."""
    upload = find(session, upload_id, user_id)
    if _held(upload):
        raise UploadBusy(upload_id)  # the holder may still move the offset
    if upload.received != offset or upload.finished_at is not None:
        raise OffsetMismatch(upload.received)
    raise UploadBusy(upload_id)  # taken and let go just now: try again


def settled(
    sessions: sessionmaker, upload_id: str, user_id: int, wait: float = LOCK_WAIT
) -> Upload:
    """Return the user's upload once no request writes to it, or after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        with session_scope(sessions) as session:
            upload = find(session, upload_id, user_id)
        if not _held(upload) or time.monotonic() >= deadline:
            return upload
        time.sleep(LOCK_POLL)


def _held(upload: Upload) -> bool:
    return upload.locked_until is not None and upload.locked_until > utcnow()


def terminate(session: Session, upload_id: str, user_id: int) -> tuple[bool, bool]:
    """Delete the user's upload row unless a writer holds it; return (deleted, finished).

    A finished upload's row goes, its job stays; an unfinished one leaves bytes to discard.
    """
    finished = find(session, upload_id, user_id).finished_at is not None
    deleted = session.execute(
        delete(Upload).where(Upload.id == upload_id, Upload.user_id == user_id, _free(utcnow()))
    ).rowcount
    return bool(deleted), finished


def forget(session: Session, upload_id: str) -> None:
    """Delete an upload row whatever its state (its finish failed and nothing of it is kept)."""
    session.execute(delete(Upload).where(Upload.id == upload_id))


def sweep_expired(sessions: sessionmaker, store: BlobStore, limit: int = 100) -> int:
    """Remove up to `limit` expired uploads nobody holds; return how many went.

    An unfinished one's bytes are discarded first, then its row; a finished one's blob is its
    job's video and stays. An expired row can no longer be locked (`acquire` wants an
    unexpired one), so no writer comes back between the two steps; if discarding fails, the
    row stays and the next round tries again.
    """
    now = utcnow()
    with session_scope(sessions) as session:
        rows = session.execute(
            select(Upload.id, Upload.finished_at)
            .where(Upload.expires_at < now, _free(now))
            .order_by(Upload.expires_at)
            .limit(limit)
        ).all()
    removed = 0
    for upload_id, finished_at in rows:
        if finished_at is None:
            store.discard_append("videos", upload_id)
        with session_scope(sessions) as session:
            removed += session.execute(
                delete(Upload).where(Upload.id == upload_id, Upload.expires_at < now, _free(now))
            ).rowcount
    return removed
