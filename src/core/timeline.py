"""Write and read a job's timeline: one `job_events` row per attempt of each step.

A row is written when a worker takes a step's lease (outcome empty: it runs) and closed when
the attempt ends: done, retry, failed, cancelled or lease_lost, with the error a user reads.
Rows live in the database, so a job's history survives restarts of web and workers alike.
`start` and `finish` write in the caller's transaction (the worker adds them to the lease's
own writes, see `actors.timeline`); the caller commits.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.models import JobEvent, utcnow

OUTCOMES = ("done", "retry", "failed", "cancelled", "lease_lost")


def start(session: Session, job_id: str, step: str, attempt: int, host: str, pid: int) -> int:
    """Record that an attempt began on worker `host`/`pid` and return its event id."""
    result = session.execute(
        insert(JobEvent.__table__).values(
            job_id=job_id, step=step, attempt=attempt, worker_host=host, worker_pid=pid
        )
    )
    return result.inserted_primary_key[0]


def finish(session: Session, event_id: int, outcome: str, error: str | None = None) -> None:
    """Close the attempt with its outcome (one of `OUTCOMES`)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    events = JobEvent.__table__
    session.execute(
        update(events)
        .where(events.c.id == event_id)
        .values(outcome=outcome, error=error, ended_at=utcnow())
    )


def for_job(session: Session, job_id: str) -> list[JobEvent]:
    """Return the job's attempts, oldest first."""
    return list(
        session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
    )
