"""Estimate where a job waits: its place in the queue, and when it starts and finishes.

The speed comes from the jobs table: for the last converted jobs, the time a job held a
conversion slot (from its start to its MP3 being stored) against its media's length, fitted
(Theil-Sen) as `fixed + per_second * media seconds` (a short clip still costs a probe, a store
and a few round trips). A waiting job's media length is not probed yet, so it is read from its
video's size at the recent seconds per byte.

The order comes from `core.fairqueue`: released jobs start in the order they were sent; a held
job that is its user's k-th waiting one (from 0) follows every released job, its user's k
earlier ones, and up to k of each other user's, k + 1 of those whose turn comes before its
user's. The jobs ahead then fill the conversion slots (the live workers' threads) one after
the other, starting when each running job's remaining part is done.

`QueueSnapshot.load` reads all of it with a few grouped queries, once for a page of jobs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import statistics
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from core import fairqueue
from core.models import Job, utcnow
from core.settings import Settings
from core.states import JobState

# How many recent conversions the speed is measured on.
SAMPLE = 50
# What the estimates read of each active job.
_COLUMNS = (
    Job.id,
    Job.user_id,
    Job.state,
    Job.enqueued_at,
    Job.created_at,
    Job.started_at,
    Job.duration,
    Job.video_size,
    Job.progress,
)
NO_ESTIMATE = {"queue_position": None, "estimated_start_at": None, "estimated_finish_at": None}


@dataclasses.dataclass(frozen=True)
class Speed:
    """Slot seconds per job: `fixed + per_second * media seconds`; media seconds from size."""

    fixed: float
    per_second: float
    seconds_per_byte: float

    def slot_seconds(self, duration: float | None, video_size: int | None) -> float:
        """Return how long a job holds a conversion slot."""
        if duration is None:
            duration = (video_size or 0) * self.seconds_per_byte
        return self.fixed + self.per_second * duration


def measure_speed(session: Session, sample: int = SAMPLE) -> Speed | None:
    """Fit the speed on the last `sample` converted jobs; None before there are any."""
    rows = session.execute(
        select(Job.started_at, Job.stored_at, Job.duration, Job.video_size)
        .where(
            Job.state == JobState.DONE.value,
            Job.stored_at.is_not(None),
            Job.started_at.is_not(None),
            Job.duration > 0,
        )
        .order_by(Job.finished_at.desc())
        .limit(sample)
    ).all()
    points = [
        (duration, (stored - started).total_seconds()) for started, stored, duration, _ in rows
    ]
    if not points:
        return None
    sizes = [(size, duration) for _, _, duration, size in rows if size]
    seconds_per_byte = sum(d for _, d in sizes) / sum(s for s, _ in sizes) if sizes else 0.0
    fixed, per_second = _fit(points)
    return Speed(fixed, per_second, seconds_per_byte)


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Fit time = fixed + slope * length (Theil-Sen: medians, so a few outliers do not count).

    The slope is the median of the slopes between pairs of jobs of different lengths, the
    fixed part the median of what is left; both kept >= 0. With one length only, the time is
    taken as proportional to the length.
    """
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    if not slopes:
        return 0.0, statistics.median(y / x for x, y in points)
    slope = max(0.0, statistics.median(slopes))
    return max(0.0, statistics.median(y - slope * x for x, y in points)), slope


@dataclasses.dataclass
class QueueSnapshot:
    """The active jobs, the slots and the speed, read once; `estimate(job)` for each job."""

    now: dt.datetime
    slots: int
    speed: Speed | None
    running: list[Job]
    released: list[Job]  # in the order their messages were sent
    held: dict[int, list[Job]]  # per user, oldest first
    turns: dict[int, int]  # per user with held jobs, the place of their turn (0: next)

    @classmethod
    def load(cls, session: Session, settings: Settings) -> QueueSnapshot:
        """Read the active jobs, the live slots and the recent speed."""
        active = session.scalars(
            select(Job)
            .options(load_only(*_COLUMNS))
            .where(Job.state.in_([JobState.QUEUED.value, JobState.CONVERTING.value]))
            .order_by(Job.created_at, Job.id)
        ).all()
        held: dict[int, list[Job]] = defaultdict(list)
        released, running = [], []
        for job in active:
            if job.state == JobState.CONVERTING.value:
                running.append(job)
            elif job.enqueued_at is None:
                held[job.user_id].append(job)
            else:
                released.append(job)
        released.sort(key=lambda job: (job.enqueued_at, job.id))
        turns = {user: place for place, user in enumerate(fairqueue.rotation(session))}
        slots = fairqueue.slots(session, settings)
        speed = measure_speed(session)
        return cls(utcnow(), slots, speed, running, released, dict(held), turns)

    def estimate(self, job: Job) -> dict:
        """Return the job's queue position (0: next) and estimated start and finish (UTC)."""
        if job.state == JobState.CONVERTING.value:
            left = self._remaining(job)
            finish = None if left is None else self.now + dt.timedelta(seconds=left)
            return {**NO_ESTIMATE, "estimated_finish_at": finish}
        if job.state != JobState.QUEUED.value:
            return NO_ESTIMATE
        ahead = self._ahead(job)
        estimate = {**NO_ESTIMATE, "queue_position": len(ahead)}
        if self.speed is None or self.slots < 1:
            return estimate
        start = self._start_after(ahead)
        finish = start + self._slot_seconds(job)
        estimate["estimated_start_at"] = self.now + dt.timedelta(seconds=start)
        estimate["estimated_finish_at"] = self.now + dt.timedelta(seconds=finish)
        return estimate

    def _ahead(self, job: Job) -> list[Job]:
        if job.enqueued_at is not None:
            key = (job.enqueued_at, job.id)
            return [other for other in self.released if (other.enqueued_at, other.id) < key]
        own = self.held.get(job.user_id, [])
        rank = next((i for i, other in enumerate(own) if other.id == job.id), len(own))
        ahead = list(self.released) + own[:rank]
        turn = self.turns.get(job.user_id, len(self.turns))
        for user_id, jobs in self.held.items():
            if user_id != job.user_id:
                ahead += jobs[: rank + (self.turns.get(user_id, 0) < turn)]
        return ahead

    def _start_after(self, ahead: list[Job]) -> float:
        """Seconds from now until a slot is free for a job behind `ahead` (slots fill in turn)."""
        free = sorted(self._remaining(job) or 0.0 for job in self.running)
        # More running jobs than live slots: some slots' threads are busy, each with one job.
        free = (free + [0.0] * self.slots)[: max(self.slots, len(free))]
        heapq.heapify(free)
        for job in ahead:
            heapq.heappush(free, heapq.heappop(free) + self._slot_seconds(job))
        return free[0]

    def _slot_seconds(self, job: Job) -> float:
        return self.speed.slot_seconds(job.duration, job.video_size) if self.speed else 0.0

    def _remaining(self, job: Job) -> float | None:
        """Seconds until a running job frees its slot: by its progress, else by the clock."""
        if self.speed is None:
            return None
        total = self._slot_seconds(job)
        if job.progress:
            return total * (1 - job.progress / 100)
        elapsed = (self.now - (job.started_at or self.now)).total_seconds()
        return max(0.0, total - elapsed)
