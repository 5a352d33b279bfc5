"""What the admin screens and their JSON show and do: the queries and actions behind `/admin`.

Every screen exists twice, as a page and under `/admin/api`; both call this one service, so the
JSON and the pages cannot drift apart. Reads are aggregate queries over indexed columns (the
overview must stay fast with 100,000 jobs); actions go through `core.jobs` like the owners'
own buttons, and hand retried jobs to the pipeline only after their commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections.abc import Callable

import falcon
from sqlalchemy import delete, func, select

from core import jobs, timeline, workers
from core.db import session_scope
from core.models import Job, JobEvent, User, utcnow
from core.settings import Settings
from core.states import InvalidTransition, JobState
from core.storage import BlobStore
from web.admin.filters import JobFilter
from web.errors import Problem, not_found
from web.resources.jobs import hand_over

_WINDOWS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
# How many of the last day's most recently finished jobs the median times are taken over.
MEDIAN_SAMPLE = 500


@dataclasses.dataclass(frozen=True)
class JobRow:
    """A job as the admin lists show it: the row and its owner's e-mail."""

    job: Job
    email: str


class AdminService:
    """The admin dashboard's reads and actions over the database, the store and the broker."""

    def __init__(
        self,
        settings: Settings,
        sessions,
        store: BlobStore,
        enqueue: Callable[..., None],
        queues=None,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._store = store
        self._enqueue = enqueue
        self.queues = queues

    # -- reads ---------------------------------------------------------------------------------

    def overview(self) -> dict:
        """Return jobs by state, throughput and failure rate, median times, queues, workers.

        Median wait (created → started) and conversion (started → converted) are taken over
        the `MEDIAN_SAMPLE` jobs that finished last within the last day.
        """
        now = utcnow()
        with session_scope(self._sessions) as session:
            by_state = dict(
                session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
            )
            windows = {name: _finished(session, now - span) for name, span in _WINDOWS.items()}
            # The medians of the most recent jobs: bounded work however busy the day was.
            timings = session.execute(
                select(Job.created_at, Job.started_at, Job.converted_at)
                .where(Job.finished_at >= now - _WINDOWS["day"])
                .order_by(Job.finished_at.desc())
                .limit(MEDIAN_SAMPLE)
            ).all()
            known = workers.list_workers(
                session, self.settings.worker_gone_seconds, self.settings.worker_prune_seconds
            )
        return {
            "jobs_by_state": {state.value: by_state.get(state.value, 0) for state in JobState},
            "finished": windows,
            "median_wait_seconds": _median(s - c for c, s, _ in timings if s),
            "median_conversion_seconds": _median(v - s for _, s, v in timings if s and v),
            "queues": self.queue_depths(),
            "workers": {
                "live": sum(1 for w in known if w["live"]),
                "gone": sum(1 for w in known if not w["live"]),
            },
        }

    def queue_depths(self) -> dict:
        """Return the broker's kind, each queue's ready, delayed and dead message counts, and
        the dead letters themselves (the first ones of each queue that has any)."""
        if self.queues is None:
            return {
                "broker": None,
                "items": [],
                "dead_letters": [],
                "error": "no broker in this process",
            }
        try:
            items = self.queues.depths()
            letters = [
                {"queue": queue["queue"], **dataclasses.asdict(letter)}
                for queue in items
                if queue["dead"]
                for letter in self.queues.dead_letters(queue["queue"])
            ]
        except Exception as error:  # a broker outage must not take the overview down
            return {
                "broker": self.queues.kind,
                "items": [],
                "dead_letters": [],
                "error": type(error).__name__,
            }
        return {"broker": self.queues.kind, "items": items, "dead_letters": letters, "error": None}

    def jobs(self, query: JobFilter) -> tuple[list[JobRow], int]:
        """Return one page of every user's jobs that match `query`, and how many match."""
        with session_scope(self._sessions) as session:
            total = session.scalar(query.apply(select(func.count()).select_from(Job).join(User)))
            rows = session.execute(query.paged(query.apply(select(Job, User.email).join(User))))
            found = [JobRow(job, email) for job, email in rows]
            session.expunge_all()
        return found, total

    def job(self, job_id: str) -> tuple[JobRow, list[JobEvent]]:
        """Return a job (404 if there is none) and its timeline."""
        with session_scope(self._sessions) as session:
            found = session.execute(
                select(Job, User.email).join(User).where(Job.id == job_id)
            ).first()
            if found is None:
                raise not_found("job")
            events = timeline.for_job(session, job_id)
            session.expunge_all()
        return JobRow(*found), events

    def workers(self) -> list[dict]:
        """Return every worker process known, live ones first."""
        with session_scope(self._sessions) as session:
            return workers.list_workers(
                session, self.settings.worker_gone_seconds, self.settings.worker_prune_seconds
            )

    # -- actions -------------------------------------------------------------------------------

    def retry(self, job_id: str) -> None:
        """Run a failed job again from the step that failed (409 for any other job)."""
        with session_scope(self._sessions) as session:
            job = self._get(session, job_id)
            try:
                step = jobs.retry_job(session, job)
            except InvalidTransition as error:
                raise Problem(falcon.HTTP_409, str(error)) from None
        hand_over(self._sessions, self._enqueue, job_id, step)

    def retry_matching(self, query: JobFilter) -> int:
        """Retry every failed job that matches `query`; return how many were retried."""
        failed = dataclasses.replace(query, state=JobState.FAILED.value)
        with session_scope(self._sessions) as session:
            ids = session.scalars(failed.apply(select(Job.id).join(User))).all()
        for job_id in ids:
            try:
                self.retry(job_id)
            except Problem:  # retried or deleted meanwhile
                continue
        return len(ids)

    def cancel(self, job_id: str) -> None:
        """Cancel a job that has not finished (a worker stops within a second); drop its files."""
        with session_scope(self._sessions) as session:
            jobs.cancel_job(session, self._store, self._get(session, job_id))

    def delete(self, job_id: str) -> None:
        """Cancel the job if it runs, remove its files, its timeline and its row."""
        with session_scope(self._sessions) as session:
            job = self._get(session, job_id)
            jobs.cancel_job(session, self._store, job)
            session.execute(delete(JobEvent).where(JobEvent.job_id == job_id))
            session.delete(job)

    def requeue_dead(self, queue: str, message_id: str | None = None) -> int:
        """Take the queue's dead letter `message_id` (every one when None) and run its job
        again; return how many letters were taken (404 when the one asked for is not there)."""
        letters = self.queues.take_dead(self._queue(queue), message_id)
        if message_id is not None and not letters:
            raise not_found("dead letter")
        for letter in letters:
            if letter.job_id is None:
                continue
            try:
                self.retry(letter.job_id)
            except Problem:  # not failed (done, cancelled, running) or deleted: nothing to run
                continue
        return len(letters)

    def purge_dead(self, queue: str, message_id: str | None = None) -> int:
        """Drop the queue's dead letter `message_id` (every one when None); return how many
        (404 when the one asked for is not there)."""
        count = self.queues.purge_dead(self._queue(queue), message_id)
        if message_id is not None and not count:
            raise not_found("dead letter")
        return count

    def _queue(self, name: str) -> str:
        if self.queues is None or name not in self.queues.queue_names():
            raise not_found("queue")
        return name

    @staticmethod
    def _get(session, job_id: str) -> Job:
        job = session.get(Job, job_id)
        if job is None:
            raise not_found("job")
        return job


def _finished(session, since: dt.datetime) -> dict:
    counts = dict(
        session.execute(
            select(Job.state, func.count()).where(Job.finished_at >= since).group_by(Job.state)
        ).all()
    )
    done = counts.get(JobState.DONE.value, 0)
    failed = counts.get(JobState.FAILED.value, 0)
    return {
        "done": done,
        "failed": failed,
        "failure_rate": round(failed / (done + failed), 4) if done + failed else None,
    }


def _median(spans) -> float | None:
    seconds = [span.total_seconds() for span in spans]
    return round(statistics.median(seconds), 3) if seconds else None
