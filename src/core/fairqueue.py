"""Send the convert messages fairly: per user, only as many at a time as the user's limit.

An accepted job is committed `queued` with `enqueued_at` NULL: it is *held*. `release` sends
held jobs' convert messages, each user's oldest first, while the user has fewer than `limit`
jobs *in flight* (released and not yet converted: `queued` with `enqueued_at` set, or
`converting`). The limit defaults to the number of conversion slots (the threads of the live
workers that consume the video queue), so one user can fill every slot when nobody else waits,
yet a job of another user is released at once and waits behind at most the jobs that hold
the slots now: one user's 200 queued jobs delay another user's single job by at most one
conversion per slot.

Who calls it: the web app when it accepts a job (`hand_over`), the worker when a conversion
ends (a slot of its user frees up), and each worker's dispatcher every few seconds (jobs held
while the broker was away or no worker was live). Many callers at once are safe: a job is taken
with a compare-and-set on `enqueued_at`, and a taker that finds its user over the limit
afterwards (another process took one at the same moment) gives the job back.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core import workers
from core.models import Job, utcnow
from core.settings import Settings
from core.states import JobState, Step


class Held(Exception):
    """The job waits for its turn; a later `release` sends its message."""


HELD = (Job.state == JobState.QUEUED.value) & Job.enqueued_at.is_(None)
IN_FLIGHT = ((Job.state == JobState.QUEUED.value) & Job.enqueued_at.is_not(None)) | (
    Job.state == JobState.CONVERTING.value
)


def user_limit(session: Session, settings: Settings) -> int:
    """Return how many jobs of one user may be in flight: the setting, else the live slots."""
    if settings.user_convert_limit:
        return settings.user_convert_limit
    slots = workers.conversion_slots(session, settings.video_queue, settings.worker_gone_seconds)
    # No live worker yet: one each, so a worker that boots finds every user's first job.
    return max(1, slots)


def release(
    sessions: sessionmaker[Session], settings: Settings, send: Callable[[str, Step], None]
) -> list[str]:
    """Send the convert messages that may go now; return the released jobs' ids.

    `send(job_id, Step.CONVERT)` publishes one message; when it raises (the broker is away),
    the job is held again and the error propagates.
    """
    released: list[str] = []
    with sessions() as session:
        limit = user_limit(session, settings)
        for user_id, room in _rooms(session, limit):
            for job_id in _oldest_held(session, user_id, room):
                if not _take(session, job_id):
                    continue  # another process released it
                if _in_flight(session, user_id) > limit:
                    _give_back(session, job_id)
                    break
                try:
                    send(job_id, Step.CONVERT)
                except BaseException:
                    _give_back(session, job_id)
                    raise
                released.append(job_id)
    return released


def _rooms(session: Session, limit: int) -> list[tuple[int, int]]:
    """Return (user id, free places) of each user who has held jobs and room for more."""
    users = session.scalars(select(Job.user_id).where(HELD).distinct()).all()
    if not users:
        return []
    busy = dict(
        session.execute(
            select(Job.user_id, func.count())
            .where(Job.user_id.in_(users), IN_FLIGHT)
            .group_by(Job.user_id)
        ).all()
    )
    rooms = [(user_id, limit - busy.get(user_id, 0)) for user_id in users]
    return [(user_id, room) for user_id, room in rooms if room > 0]


def _oldest_held(session: Session, user_id: int, count: int) -> list[str]:
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.user_id == user_id, HELD)
            .order_by(Job.created_at, Job.id)
            .limit(count)
        )
    )


def _in_flight(session: Session, user_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Job).where(Job.user_id == user_id, IN_FLIGHT)
    )


def _take(session: Session, job_id: str) -> bool:
    now = utcnow()
    result = session.execute(
        update(Job).where(Job.id == job_id, HELD).values(enqueued_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return result.rowcount == 1


def _give_back(session: Session, job_id: str) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
        .values(enqueued_at=None, updated_at=Job.updated_at),
        execution_options={"synchronize_session": False},
    )
    session.commit()
