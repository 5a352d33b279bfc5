"""Send the convert messages fairly: round-robin over the users, only as many as free slots.

An accepted job is committed `queued` with `enqueued_at` NULL: it is *held*. `release` sends
held jobs' convert messages while fewer jobs are *in flight* (released and not yet converted:
`queued` with `enqueued_at` set, or `converting`) than the live workers have conversion slots
(the threads of the workers that consume the video queue, `core.workers`). It takes the users
with held jobs in turn, the one served longest ago first (`rotation`), each time their oldest
held job, optionally at most USER_CONVERT_LIMIT in flight per user. So no message waits in the
broker or in a worker's prefetch buffer behind another (Dramatiq's worker does not keep the
order of the messages it prefetched), and a job of a user who has waited for no turn goes out
at the next free slot: one user's 200 queued jobs delay another user's single job by at most
the conversions running when it arrived, i.e. one per slot.

Who calls it: the web app when it accepts a job (`hand_over`), the worker when a conversion
ends (a slot is free), and each worker's dispatcher every few seconds (jobs held while the
broker was away or no worker was live). Many callers at once are safe: a job is taken with a
compare-and-set on `enqueued_at`, and a taker that finds more jobs in flight than slots
afterwards (another process took one at the same moment) gives its job back.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core import workers
from core.db import reading
from core.models import Job, utcnow
from core.settings import Settings
from core.states import JobState, Step

# Sorts before any release: a user never served yet.
NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


class Held(Exception):
    """The job waits for its turn; a later `release` sends its message."""


HELD = (Job.state == JobState.QUEUED.value) & Job.enqueued_at.is_(None)
IN_FLIGHT = ((Job.state == JobState.QUEUED.value) & Job.enqueued_at.is_not(None)) | (
    Job.state == JobState.CONVERTING.value
)
# Built once: workers run it after every conversion and in every dispatcher round.
_ANY_HELD = select(exists().where(HELD))


def slots(session: Session, settings: Settings) -> int:
    """Return how many conversions the live workers run at once."""
    return workers.conversion_slots(session, settings.video_queue, settings.worker_gone_seconds)


def rotation(session: Session) -> list[int]:
    """Return the users with held jobs in the order of their turns: served longest ago first.

    A user's last service is their latest release; between users never served, the one whose
    oldest held job is older goes first.
    """
    oldest = dict(
        session.execute(
            select(Job.user_id, func.min(Job.created_at)).where(HELD).group_by(Job.user_id)
        ).all()
    )
    if not oldest:
        return []
    served = dict(
        session.execute(
            select(Job.user_id, func.max(Job.enqueued_at))
            .where(Job.user_id.in_(oldest))
            .group_by(Job.user_id)
        ).all()
    )
    return sorted(oldest, key=lambda user: (served.get(user) or NEVER, oldest[user], user))


def release(
    sessions: sessionmaker[Session], settings: Settings, send: Callable[[str, Step], None]
) -> list[str]:
    """Send the convert messages that may go now; return the released jobs' ids.

    `send(job_id, Step.CONVERT)` publishes one message; when it raises (the broker is away),
    the job is held again and the error propagates.
    """
    released: list[str] = []
    with sessions() as session:
        capacity = slots(session, settings)
        free = capacity - _in_flight(session)
        if free <= 0:
            return released
        for job_id in _next_turns(session, settings.user_convert_limit, free):
            if not _take(session, job_id):
                continue  # another process released it
            if _in_flight(session) > capacity:
                _give_back(session, job_id)
                break
            try:
                send(job_id, Step.CONVERT)
            except BaseException:
                _give_back(session, job_id)
                raise
            released.append(job_id)
    return released


def any_held(sessions: sessionmaker[Session]) -> bool:
    """Tell whether any job waits for its turn, in one indexed read.

    Workers ask it before `release`, which they would otherwise run in full after every
    conversion and every dispatcher round, mostly with nothing held; the web need not ask, since
    the job it just accepted is held.
    """
    with reading(sessions) as connection:
        return bool(connection.execute(_ANY_HELD).scalar())


def _next_turns(session: Session, user_limit: int, count: int) -> list[str]:
    """Return up to `count` held jobs, one per user in turn, each user's oldest first."""
    turns = collections.deque(rotation(session))
    busy = _in_flight_per_user(session, list(turns)) if user_limit else {}
    waiting = {user: _oldest_held(session, user, count) for user in turns}
    picked: list[str] = []
    while turns and len(picked) < count:
        user = turns.popleft()
        if not waiting[user] or (user_limit and busy.get(user, 0) >= user_limit):
            continue
        picked.append(waiting[user].pop(0))
        busy[user] = busy.get(user, 0) + 1
        turns.append(user)
    return picked


def _oldest_held(session: Session, user_id: int, count: int) -> list[str]:
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.user_id == user_id, HELD)
            .order_by(Job.created_at, Job.id)
            .limit(count)
        )
    )


def _in_flight(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job).where(IN_FLIGHT))


def _in_flight_per_user(session: Session, users: list[int]) -> dict[int, int]:
    return dict(
        session.execute(
            select(Job.user_id, func.count())
            .where(Job.user_id.in_(users), IN_FLIGHT)
            .group_by(Job.user_id)
        ).all()
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
