"""What the service still owes a job after a backing service was away: its message, its e-mail.

Messages: an accepted job is committed with `enqueued_at` NULL; whoever publishes its message
marks it (`mark_enqueued`), and a claim marks it too. `unsent_jobs` lists the active jobs nobody
has published for, so the worker's dispatcher sends them as soon as the broker is back instead
of waiting for the stuck-job sweep.

E-mails: a done job whose e-mail could not be sent keeps `email_due_at`, the time of its next
attempt, and `notified_at` NULL. A sender takes one with a compare-and-set that moves
`email_due_at` past its own attempt (`take_email`), so two senders never send the same e-mail;
it then records the outcome (`email_sent`, `email_retry_later`, `email_given_up`). The delay
between attempts grows with the time since the job finished, up to a cap, until the retry
window ends. Only a crash between the server's "accepted" and `email_sent` can repeat one, and
the fixed Message-ID lets mail clients drop that duplicate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.models import Job, utcnow
from core.states import STATE_STEP, JobState

# How long a taken e-mail stays with its sender (above the SMTP timeout): after that, a sender
# that died mid-attempt is presumed gone and another one tries.
EMAIL_HOLD_SECONDS = 120.0


class EmailNotApplicable(Exception):
    """A job's e-mail cannot be asked for again: not done, already sent, or already pending."""


def mark_enqueued(session: Session, job_id: str) -> None:
    """Record that the job's message reached the broker, and commit."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.enqueued_at.is_(None))
        .values(enqueued_at=utcnow(), updated_at=Job.updated_at),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def unsent_jobs(
    session: Session | Connection,
    older_than_seconds: float,
    limit: int = 100,
    *,
    queued: bool = True,
) -> list[tuple]:
    """Return (job id, step) of active jobs whose message was never published.

    Only jobs unchanged for `older_than_seconds`, so the upload's own publish goes first.
    `queued=False` leaves out queued jobs (with fair sharing, `core.fairqueue` sends those).
    """
    cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
    states = [state.value for state in STATE_STEP if queued or state is not JobState.QUEUED]
    rows = session.execute(
        select(Job.id, Job.state)
        .where(
            Job.enqueued_at.is_(None),
            Job.state.in_(states),
            Job.updated_at < cutoff,
        )
        .order_by(Job.updated_at)
        .limit(limit)
    ).all()
    return [(job_id, STATE_STEP[JobState(state)]) for job_id, state in rows]


def email_state(job: Job) -> str | None:
    """Say where the owner's e-mail is: sent, pending, failed, or None while the job runs."""
    if job.notified_at is not None:
        return "sent"
    if job.email_due_at is not None:
        return "pending"
    return "failed" if job.state == JobState.DONE.value else None


def retry_delay(elapsed_seconds: float, min_seconds: float, max_seconds: float) -> float:
    """Return the wait before the next e-mail attempt: about the time already spent, capped."""
    return max(min_seconds, min(max_seconds, elapsed_seconds))


def due_emails(session: Session | Connection, limit: int = 50) -> list[tuple[str, dt.datetime]]:
    """Return (job id, due time) of done jobs whose e-mail attempt is due."""
    rows = session.execute(
        select(Job.id, Job.email_due_at)
        .where(
            Job.email_due_at <= utcnow(),
            Job.notified_at.is_(None),
            Job.state == JobState.DONE.value,
        )
        .order_by(Job.email_due_at)
        .limit(limit)
    ).all()
    return [(job_id, due) for job_id, due in rows]


def take_email(session: Session, job_id: str, due_at: dt.datetime) -> Job | None:
    """Take the due e-mail of the job for one attempt; None if another sender took it first."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.email_due_at == due_at, Job.notified_at.is_(None))
        .values(
            email_due_at=utcnow() + dt.timedelta(seconds=EMAIL_HOLD_SECONDS),
            updated_at=Job.updated_at,
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(Job, job_id, populate_existing=True)


def email_sent(session: Session, job_id: str) -> None:
    """Record that the e-mail went out; commit."""
    _set(session, job_id, notified_at=utcnow(), email_due_at=None, reason=None)


def email_retry_later(session: Session, job_id: str, delay_seconds: float) -> None:
    """Schedule the next attempt `delay_seconds` from now; commit."""
    _set(session, job_id, email_due_at=utcnow() + dt.timedelta(seconds=delay_seconds))


def email_given_up(session: Session, job_id: str, reason: str) -> None:
    """Stop trying (refused for good, or the retry window ended) with a reason; commit."""
    _set(session, job_id, email_due_at=None, reason=reason)


def request_email(session: Session, job: Job) -> None:
    """Make a done job's unsent, no longer tried e-mail due now (its owner or an admin asks).

    Raises EmailNotApplicable otherwise; the caller commits.
    """
    state = email_state(job)
    if state != "failed":
        raise EmailNotApplicable(
            {
                None: f"the job is {job.state}; its e-mail is sent once it is done",
                "sent": "the e-mail was already sent",
                "pending": "the e-mail is pending; it is sent as soon as the mail server answers",
            }[state]
        )
    job.email_due_at = utcnow()
    job.reason = None


def _set(session: Session, job_id: str, **values: Any) -> None:
    values.setdefault("updated_at", Job.updated_at)
    session.execute(
        update(Job).where(Job.id == job_id).values(**values),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def email_window_over(job: Job, hours: float) -> bool:
    """Tell whether the job finished more than `hours` ago (its e-mail is no longer tried)."""
    finished = job.finished_at or job.updated_at
    return utcnow() - finished > dt.timedelta(hours=hours)


def elapsed_since_finished(job: Job) -> float:
    """Return the seconds since the job finished."""
    return (utcnow() - (job.finished_at or job.updated_at)).total_seconds()
