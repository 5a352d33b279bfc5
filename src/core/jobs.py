"""Change a job's state safely from many processes: leases, cancel, retry and the stuck-job sweep.

The job row is the source of truth, so every pipeline step works under a *lease* taken on the row
with one conditional UPDATE (compare-and-set), never by reading and then writing:

- `claim` moves the row into the step's state and bumps `attempts`; the new `attempts` value is
  the lease's *token*. A claim succeeds only when nobody holds a fresh lease on that step, so two
  deliveries of the same message never work on one job at once.
- `heartbeat` refreshes `updated_at` (and the progress) while the token still matches. It
  returns False when the lease is lost: the job was cancelled, or another worker took it over
  after this one looked dead. The worker then stops at once. `holds` asks the same without
  writing.
- `advance`, `fail_step` and `release` end the lease: next state, failed, or "try again".

Each write commits, except `claim` and `advance` with `commit=False`: the worker adds the
attempt's timeline row to them and commits once (`actors.timeline`).

A lease is fresh while `updated_at` is younger than `lease_seconds`; a worker killed with SIGKILL
stops heart-beating, so its job becomes claimable again after that time and the redelivered
message (or the sweeper's) carries on. Nothing here knows about Dramatiq: the web app calls
`cancel_job` and `retry_job`, then hands the job to the `enqueue` callable it was given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from core import repeats
from core.job_blobs import mp3_blobs, video_blobs
from core.models import Job, utcnow
from core.states import STATE_STEP, STEP_STATE, InvalidTransition, JobState, Step, check_transition
from core.storage import BlobStore, StorageError

log = logging.getLogger(__name__)

# The longest a lease lasts without a heartbeat; shorter when STUCK_JOB_SECONDS is small.
MAX_LEASE_SECONDS = 60.0

Enqueue = Callable[[str, Step], None]

_NEXT = {Step.CONVERT: JobState.STORING, Step.STORE: JobState.NOTIFYING, Step.NOTIFY: JobState.DONE}
_ACTIVE = (JobState.QUEUED, JobState.CONVERTING, JobState.STORING, JobState.NOTIFYING)


def lease_seconds_for(stuck_job_seconds: float) -> float:
    """Return the lease length: half the stuck-job timeout, at most a minute.

    Half, so that a lease taken over by a redelivered message always expires before the sweeper
    would call the job stuck.
    """
    return min(MAX_LEASE_SECONDS, stuck_job_seconds / 2)


@dataclasses.dataclass(frozen=True)
class Claim:
    """The outcome of `claim`: a lease (token set), a busy job (retry_in set), or nothing to do."""

    token: int | None = None
    retry_in: float | None = None
    job: Job | None = None

    @property
    def acquired(self) -> bool:
        return self.token is not None


def claim(
    session: Session,
    job_id: str,
    step: Step,
    lease_seconds: float,
    resume_token: int | None = None,
    *,
    commit: bool = True,
) -> Claim:
    """Take the lease for `step` on the job and commit; see the module docstring.

    `resume_token`: a lease of this step that an earlier delivery of the same message held and
    could not give back (the database was away); it is taken over at once, not waited out.
    The job is loaded in the same transaction, with its owner for the notify step (who gets
    the e-mail). `commit=False` leaves the transaction to the caller.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=lease_seconds)
    state = STEP_STATE[step]
    values: dict[str, Any] = {
        "attempts": Job.attempts + 1,
        "updated_at": now,
        # A delivered message was published, whoever sent it (see core.outbox).
        "enqueued_at": func.coalesce(Job.enqueued_at, now),
    }
    takeover = Job.updated_at < cutoff
    if resume_token is not None:
        takeover = or_(takeover, Job.attempts == resume_token)
    if step is Step.CONVERT:
        # A fresh claim of a queued job, or a takeover from a worker that stopped heart-beating.
        where = or_(
            Job.state == JobState.QUEUED.value,
            (Job.state == state.value) & takeover,
        )
        values.update(
            state=state.value, progress=0.0, started_at=func.coalesce(Job.started_at, now)
        )
    else:
        # `advance` resets attempts to 0 when it hands the job to this step.
        where = (Job.state == state.value) & ((Job.attempts == 0) | takeover)
    result = session.execute(
        update(Job).where(Job.id == job_id, where).values(**values),
        execution_options={"synchronize_session": False},
    )
    owner = [joinedload(Job.user)] if step is Step.NOTIFY else []
    job = session.get(Job, job_id, populate_existing=True, options=owner)
    if commit:
        session.commit()
    if result.rowcount == 1 and job is not None:
        return Claim(token=job.attempts, job=job)
    if job is not None and job.state == state.value:
        age = (now - job.updated_at).total_seconds()
        return Claim(retry_in=max(0.5, lease_seconds - age), job=job)
    return Claim(job=job)


def heartbeat(
    session: Session, job_id: str, step: Step, token: int, progress: float | None = None
) -> bool:
    """Refresh the lease (and the progress); False when the lease is lost or the job cancelled."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if progress is not None:
        values["progress"] = round(max(0.0, min(100.0, progress)), 1)
    return _fenced(session, job_id, step, token, values)


def record(session: Session, job_id: str, step: Step, token: int, **values: Any) -> bool:
    """Write facts on the job (media, sizes...) under the lease; False when the lease is lost."""
    values.setdefault("updated_at", utcnow())
    return _fenced(session, job_id, step, token, values)


def advance(
    session: Session, job_id: str, step: Step, token: int, *, commit: bool = True, **values: Any
) -> bool:
    """Finish `step`: move the job to the next state and end the lease; False if it was lost.

    The reason is cleared unless `values` gives one (a notification that failed for good).
    `commit=False` leaves the transaction to the caller.
    """
    target = _NEXT[step]
    check_transition(STEP_STATE[step], target)
    now = utcnow()
    values.setdefault("reason", None)
    values.update(state=target.value, updated_at=now, attempts=0)
    if target is JobState.DONE:
        values["finished_at"] = now
    else:
        values["enqueued_at"] = None  # the next step's message is owed until sent (core.outbox)
    return _fenced(session, job_id, step, token, values, commit=commit)


def fail_step(
    session: Session,
    job_id: str,
    step: Step,
    token: int | None,
    reason: str,
    *,
    lease_seconds: float | None = None,
    values: dict[str, Any] | None = None,
) -> bool:
    """Mark the job failed at `step` with `reason`; False if the job is not ours to fail.

    `values` are further columns written in the same update (e.g. a forgotten MP3 id).

    With `lease_seconds` (the exhausted-retries hook), the job fails if `token` is the last
    lease taken on it (the actor released it after its error; a converting job is then back
    in queued) or if nobody has held a lease for `lease_seconds`. So a job that another worker
    is converting right now is never failed by a stale duplicate message. Without it, the
    caller holds the lease `token`.

    The notify step never fails a job: its failure ends the job as done, the reason telling
    what could not be notified.
    """
    now = utcnow()
    state = STEP_STATE[step]
    values = dict(values or {})
    if step is Step.NOTIFY:
        values.update(state=JobState.DONE.value, reason=reason, finished_at=now)
    else:
        check_transition(state, JobState.FAILED)
        values.update(
            state=JobState.FAILED.value, failed_step=step.value, reason=reason, finished_at=now
        )
    values["updated_at"] = now
    if lease_seconds is None:
        if token is None:
            raise ValueError("fail_step needs the lease token or lease_seconds")
        return _fenced(session, job_id, step, token, values)
    states = [state.value] + ([JobState.QUEUED.value] if step is Step.CONVERT else [])
    stale = Job.updated_at < now - dt.timedelta(seconds=lease_seconds)
    ours = stale if token is None else or_(Job.attempts == token, stale)
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.state.in_(states), ours).values(**values),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return result.rowcount == 1


def release(
    session: Session, job_id: str, step: Step, token: int, reason: str, lease_seconds: float
) -> bool:
    """Give the lease back after a transient error, so the retried message can claim at once.

    A converting job goes back to queued; a later step stays in its state with an expired lease.
    `reason` keeps the last error visible while the job waits for its retry.
    """
    now = utcnow()
    values: dict[str, Any] = {"reason": f"Retrying after an error: {reason}"}
    if step is Step.CONVERT:
        check_transition(JobState.CONVERTING, JobState.QUEUED)
        values.update(state=JobState.QUEUED.value, progress=0.0, updated_at=now)
    else:
        values["updated_at"] = now - dt.timedelta(seconds=lease_seconds)
    return _fenced(session, job_id, step, token, values)


def holds(session: Session, job_id: str, step: Step, token: int) -> bool:
    """Tell whether the lease `token` on `step` is still held, without refreshing it."""
    return session.scalar(select(Job.attempts).where(_lease(job_id, step, token))) is not None


def _lease(job_id: str, step: Step, token: int):
    return (Job.id == job_id) & (Job.state == STEP_STATE[step].value) & (Job.attempts == token)


def _fenced(
    session: Session,
    job_id: str,
    step: Step,
    token: int,
    values: dict[str, Any],
    *,
    commit: bool = True,
) -> bool:
    result = session.execute(
        update(Job).where(_lease(job_id, step, token)).values(**values),
        execution_options={"synchronize_session": False},
    )
    if commit:
        session.commit()
    return result.rowcount == 1


def is_cancelled(session: Session, job_id: str) -> bool:
    """Tell whether the job was cancelled (or deleted)."""
    state = session.scalar(select(Job.state).where(Job.id == job_id))
    return state is None or state == JobState.CANCELLED.value


# -- what the web app calls -------------------------------------------------------------------


def cancel_job(session: Session, store: BlobStore, job: Job) -> bool:
    """Cancel `job` if it is still running and delete its blobs; return True if cancelled.

    Commits the session before deleting blobs: the cancellation must be durable first, so a
    worker that still runs the job notices it (within a second), kills its ffmpeg and writes
    nothing more. A finished job keeps its state; its blobs are deleted all the same (DELETE
    /jobs/{id} on a done job removes its files, but an MP3 that another job shares stays until
    the last of them lets go of it; see core.repeats). Raises StorageError when the store is down,
    after the cancellation was committed: calling again is safe.
    """
    cancelled = False
    if not job.job_state.finished or job.job_state is JobState.FAILED:
        job.move_to(JobState.CANCELLED)
        job.reason = "Cancelled by its owner."
        cancelled = True
    blob_ids = video_blobs(job.id, job.video_blob_id)
    mp3_blob_id = job.mp3_blob_id or job.id
    job.video_blob_id = None
    job.mp3_blob_id = None
    session.commit()
    # An MP3 shared with an instant repeat stays while another job points at it.
    if not repeats.mp3_in_use(session, mp3_blob_id):
        blob_ids += mp3_blobs(mp3_blob_id)
    for bucket, blob_id in blob_ids:
        store.delete(bucket, blob_id)
    return cancelled


def retry_job(session: Session, job: Job) -> Step:
    """Put a failed job back to the state of the step that failed and return that step.

    The caller commits, then calls `enqueue(job.id, step)` (the dispatcher sends it if that
    fails; see core.outbox). Raises InvalidTransition for a job
    that is not failed (the web app answers 409).
    """
    if job.job_state is not JobState.FAILED:
        raise InvalidTransition(f"only a failed job can be retried; this one is {job.state}")
    step = Step(job.failed_step) if job.failed_step else Step.CONVERT
    if step is Step.NOTIFY:  # cannot happen (notify never fails a job); convert is always safe
        step = Step.CONVERT
    if step is Step.STORE and job.mp3_blob_id is None:
        step = Step.CONVERT
    target = JobState.QUEUED if step is Step.CONVERT else STEP_STATE[step]
    job.move_to(target)
    job.failed_step = None
    job.reason = None
    job.attempts = 0
    job.finished_at = None
    job.enqueued_at = None  # owed to the broker until the caller's publish succeeds
    if step is Step.CONVERT:
        job.progress = 0.0
    return step


def sweep_stuck_jobs(
    sessions: sessionmaker[Session],
    enqueue: Enqueue,
    stuck_after_seconds: float,
    *,
    lease_seconds: float | None = None,
    limit: int = 200,
) -> list[str]:
    """Re-enqueue unfinished jobs whose row has not changed for `stuck_after_seconds`.

    Queued jobs whose message was never sent are left to the dispatcher (`core.fairqueue`).

    Safe to run in every worker at once: each job is taken with a compare-and-set on its
    `updated_at`, so only one sweeper re-enqueues it per period, and the actors are idempotent
    anyway. A stale converting job goes back to queued (its worker is gone); a stale storing or
    notifying job gets an expired lease, so the new message can claim it at once. Returns the
    ids of the re-enqueued jobs. `lease_seconds` is the workers' lease (default: derived from
    `stuck_after_seconds` as the workers derive it from STUCK_JOB_SECONDS).
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stuck_after_seconds)
    lease = lease_seconds_for(stuck_after_seconds) if lease_seconds is None else lease_seconds
    swept: list[tuple[str, Step]] = []
    with sessions() as session:
        rows = session.execute(
            select(Job.id, Job.state, Job.updated_at)
            .where(
                Job.state.in_([s.value for s in _ACTIVE]),
                Job.updated_at < cutoff,
                # A queued job without a message is held for its turn (core.fairqueue).
                (Job.state != JobState.QUEUED.value) | Job.enqueued_at.is_not(None),
            )
            .order_by(Job.updated_at)
            .limit(limit)
        ).all()
        for job_id, state, updated_at in rows:
            state = JobState(state)
            values: dict[str, Any] = {"updated_at": now}
            if state is JobState.CONVERTING:
                values.update(state=JobState.QUEUED.value, progress=0.0)
            elif state in (JobState.STORING, JobState.NOTIFYING):
                values["updated_at"] = now - dt.timedelta(seconds=lease)
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == state.value, Job.updated_at == updated_at)
                .values(**values),
                execution_options={"synchronize_session": False},
            )
            session.commit()
            if result.rowcount == 1:
                swept.append((job_id, STATE_STEP[state]))
    for job_id, step in swept:
        log.warning("job %s: stuck without progress, re-enqueued from %s", job_id, step)
        enqueue(job_id, step)
    return [job_id for job_id, _ in swept]


def delete_blobs_quietly(store: BlobStore, *blobs: tuple[str, str]) -> None:
    """Delete blobs, logging (not raising) a store outage; used on paths that already failed."""
    for bucket, blob_id in blobs:
        try:
            store.delete(bucket, blob_id)
        except StorageError:
            log.warning("could not delete %s/%s: the store is unavailable", bucket, blob_id)
