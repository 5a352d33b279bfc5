"""List and show the caller's jobs; admins see everyone's. Another user's job is a 404.

Also hands a committed job to the pipeline (`hand_over`) for the upload and the retry, and asks
for a job's e-mail again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable

import falcon
from sqlalchemy import bindparam, func, select

from core import fairqueue, jobs, outbox
from core.db import reading, session_scope
from core.estimates import NO_ESTIMATE, QueueSnapshot
from core.models import Job
from core.settings import Settings
from core.states import InvalidTransition, JobState, Step
from core.storage import BlobStore
from web.auth import Principal
from web.errors import Problem, not_found
from web.finished_jobs import FinishedJobs, fingerprint

log = logging.getLogger(__name__)

MAX_PAGE = 100
# Past any real count of jobs, and small enough for every database's OFFSET.
MAX_OFFSET = 2**31 - 1
WAITING_OR_RUNNING = (JobState.QUEUED.value, JobState.CONVERTING.value)


# What `job_json` reads. The read routes select only these columns, as plain rows rather than
# ORM objects, with statements built once: building statements and objects and parsing columns
# were most of a read's cost. A new field that needs another column adds it here.
JOB_COLUMNS = (
    Job.id,
    Job.user_id,
    Job.state,
    Job.progress,
    Job.original_filename,
    Job.failed_step,
    Job.reason,
    Job.attempts,
    Job.video_size,
    Job.mp3_blob_id,
    Job.mp3_size,
    Job.mp3_duration,
    Job.mp3_bitrate,
    Job.duration,
    Job.media,
    Job.options,
    Job.created_at,
    Job.updated_at,
    Job.started_at,
    Job.stored_at,
    Job.finished_at,
    Job.notified_at,
    Job.email_due_at,
    Job.enqueued_at,
)


_FINGERPRINT = fingerprint(JOB_COLUMNS).label("fingerprint")
_JOB_KEY = select(Job.id, Job.user_id, Job.state, _FINGERPRINT).where(Job.id == bindparam("job_id"))
_JOBS_BY_ID = select(*JOB_COLUMNS, _FINGERPRINT).where(Job.id.in_(bindparam("ids", expanding=True)))


def _page(own: bool):
    """Build the statements for a page of jobs (each row's id, state and fingerprint, with the
    `total` it is a page of) and for the total alone (a page past the end has no row to carry
    it). The full rows are read by `_JOBS_BY_ID`, for the jobs not kept (`FinishedJobs`)."""
    total = select(func.count()).select_from(Job)
    page = select(Job.id, Job.state, _FINGERPRINT)
    if own:
        total = total.where(Job.user_id == bindparam("user_id"))
        page = page.where(Job.user_id == bindparam("user_id"))
    return (
        page.add_columns(total.scalar_subquery().label("total"))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    ), total


_OWN_PAGE, _OWN_TOTAL = _page(own=True)
_ANY_PAGE, _ANY_TOTAL = _page(own=False)


def visible_job(session, principal: Principal, job_id: uuid.UUID) -> Job:
    """Return the job if the caller may see it, else raise 404 (never 403: ids stay private).

    Routes give the id as a UUID (Falcon's `{job_id:uuid}` converter); rows keep its hex form.
    """
    return _visible(principal, session.get(Job, job_id.hex))


def _visible(principal: Principal, job):
    if job is None or not (principal.is_admin or job.user_id == principal.id):
        raise not_found("job")
    return job


def job_json(job, root: str, estimate: dict | None = None) -> dict:
    """Return the public representation of a job (a `Job`, or a row of `JOB_COLUMNS`).

    Its links start with `root`, the root path the app is served under; `estimate` is its place
    in the queue and estimated start and finish (see `estimates`).
    """
    links = {"self": f"{root}/jobs/{job.id}"}
    if job.mp3_blob_id and job.stored_at is not None:
        links["mp3"] = f"{root}/jobs/{job.id}/mp3"
        links["download"] = f"{root}/download?fid={job.id}"
    return {
        "id": job.id,
        "state": job.state,
        "progress": round(job.progress or 0.0, 1),
        "filename": job.original_filename,
        "failed_step": job.failed_step,
        "reason": job.reason,
        "attempts": job.attempts,
        "video_size": job.video_size,
        "mp3_size": job.mp3_size,
        "mp3_duration": job.mp3_duration,
        "mp3_bitrate": job.mp3_bitrate,
        "duration": job.duration,
        "media": job.media,
        "options": job.options,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "notified_at": iso(job.notified_at),
        "email": outbox.email_state(job),
        **_estimate_fields(estimate or NO_ESTIMATE),
        "links": links,
    }


def _estimate_fields(estimate: dict) -> dict:
    return {
        "queue_position": estimate["queue_position"],
        "estimated_start_at": iso(estimate["estimated_start_at"]),
        "estimated_finish_at": iso(estimate["estimated_finish_at"]),
    }


def estimates(sessions, settings: Settings, jobs) -> dict[str, dict]:
    """Return, by job id, the place and estimates of those of `jobs` that still wait or run.

    The queue is read once for the lot, and only when one of them waits or runs.
    """
    if not any(job.state in WAITING_OR_RUNNING for job in jobs):
        return {}
    with session_scope(sessions) as session:
        queue = QueueSnapshot.load(session, settings)
        return {job.id: queue.estimate(job) for job in jobs}


def _made_json(sessions, settings: Settings, finished: FinishedJobs, rows, root: str) -> dict:
    """Return, by job id, the JSON of full job rows (with their `fingerprint`); keep the finished
    jobs' JSON in `finished`."""
    queue = estimates(sessions, settings, rows)
    made = {}
    for row in rows:
        made[row.id] = json = job_json(row, root, queue.get(row.id))
        if JobState(row.state).finished:
            finished.put((row.id, row.fingerprint, root), json)
    return made


def iso(value: dt.datetime | None) -> str | None:
    """Return a moment as ISO 8601 in UTC with a Z, or None."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class JobsResource:
    """`GET /jobs`: the caller's jobs, newest first, `limit`/`offset` paginated."""

    def __init__(self, settings: Settings, sessions, finished: FinishedJobs) -> None:
        self._settings = settings
        self._sessions = sessions
        self._finished = finished

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal: Principal = req.context.principal
        limit = _int_param(req, "limit", 20, 1, MAX_PAGE)
        offset = _int_param(req, "offset", 0, 0, MAX_OFFSET)
        page, count = _ANY_PAGE, _ANY_TOTAL
        if not (principal.is_admin and req.get_param_as_bool("all", default=False)):
            page, count = _OWN_PAGE, _OWN_TOTAL
        params = {"user_id": principal.id, "limit": limit, "offset": offset}
        root = req.root_path
        with reading(self._sessions) as connection:
            keys = connection.execute(page, params).all()
            # Each row carries the total; only a page past the end needs to count on its own.
            total = keys[0].total if keys else connection.execute(count, params).scalar()
            found = {key.id: self._finished.get((key.id, key.fingerprint, root)) for key in keys}
            missing = [job_id for job_id, json in found.items() if json is None]
            rows = connection.execute(_JOBS_BY_ID, {"ids": missing}).all() if missing else []
        found.update(_made_json(self._sessions, self._settings, self._finished, rows, root))
        # A job deleted between the two reads is left out.
        items = [found[key.id] for key in keys if found[key.id] is not None]
        next_offset = offset + limit
        resp.media = {
            "items": items,
            "total": total,
            "limit": limit,
            "offset": offset,
            "next": f"{req.root_path}/jobs?limit={limit}&offset={next_offset}"
            if next_offset < total
            else None,
        }


class JobResource:
    """`GET /jobs/{id}`: one job's state and facts; `DELETE`: cancel it and remove its files."""

    def __init__(
        self, settings: Settings, sessions, store: BlobStore, finished: FinishedJobs
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._finished = finished

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        root = req.root_path
        with reading(self._sessions) as connection:
            key = connection.execute(_JOB_KEY, {"job_id": job_id.hex}).one_or_none()
            key = _visible(req.context.principal, key)
            json = self._finished.get((key.id, key.fingerprint, root))
            rows = [] if json else connection.execute(_JOBS_BY_ID, {"ids": [key.id]}).all()
        if rows:
            json = _made_json(self._sessions, self._settings, self._finished, rows, root)[key.id]
        if json is None:  # deleted between the two reads
            raise not_found("job")
        resp.media = json

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        with session_scope(self._sessions) as session:
            job = visible_job(session, req.context.principal, job_id)
            # A running worker sees the cancellation within a second and kills its ffmpeg.
            jobs.cancel_job(session, self._store, job)
            resp.media = job_json(job, req.root_path)


class JobRetryResource:
    """`POST /jobs/{id}/retry`: run a failed job again from the step that failed."""

    def __init__(self, sessions, enqueue: Callable[..., None]) -> None:
        self._sessions = sessions
        self._enqueue = enqueue

    def on_post(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        with session_scope(self._sessions) as session:
            job = visible_job(session, req.context.principal, job_id)
            try:
                step = jobs.retry_job(session, job)
            except InvalidTransition as error:
                raise Problem(falcon.HTTP_409, str(error)) from None
        # After the commit, as for an upload: a worker must find the row changed.
        hand_over(self._sessions, self._enqueue, job.id, step)
        resp.status = falcon.HTTP_202
        resp.media = job_json(job, req.root_path)


class JobNotifyResource:
    """`POST /jobs/{id}/notify`: send a done job's e-mail that was not sent (owner or admin).

    409 when the e-mail was sent, is still pending, or the job is not done: never twice.
    """

    def __init__(self, sessions) -> None:
        self._sessions = sessions

    def on_post(self, req: falcon.Request, resp: falcon.Response, job_id: uuid.UUID) -> None:
        with session_scope(self._sessions) as session:
            job = visible_job(session, req.context.principal, job_id)
            try:
                outbox.request_email(session, job)
            except outbox.EmailNotApplicable as error:
                raise Problem(falcon.HTTP_409, str(error)) from None
        resp.status = falcon.HTTP_202
        resp.media = job_json(job, req.root_path)


def hand_over(sessions, enqueue: Callable[..., None], job_id: str, step: Step) -> None:
    """Publish a committed job's message and mark it sent; if the broker is away (or too slow),
    leave it to the worker's dispatcher, which sends it as soon as the broker is back. A job
    held for its user's turn (fair sharing) is sent by a worker when a place is free.
    """
    try:
        enqueue(job_id, step)
    except fairqueue.Held:
        log.info("job %s: waits for its turn; a worker sends its message", job_id)
        return
    except Exception as error:
        log.warning(
            "job %s: the broker did not take the message now (%s); the dispatcher sends it",
            job_id,
            type(error).__name__,
        )
        return
    try:
        with session_scope(sessions) as session:
            outbox.mark_enqueued(session, job_id)
    except Exception as error:
        # Harmless: the claim marks it too, and a second message finds nothing to do.
        log.warning("job %s: could not mark the message sent (%s)", job_id, type(error).__name__)


def _int_param(req: falcon.Request, name: str, default: int, low: int, high: int | None) -> int:
    try:
        return req.get_param_as_int(name, default=default, min_value=low, max_value=high)
    except falcon.HTTPInvalidParam:
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Problem(
            falcon.HTTP_400, f"query parameter {name} must be a whole number {bound}"
        ) from None
