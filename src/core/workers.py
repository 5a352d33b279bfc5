"""The workers registry: each worker process's heartbeat row, and who is live or gone.

A worker process writes its row when it boots and then every few seconds (`beat`); a row whose
last heartbeat is older than WORKER_GONE_SECONDS belongs to a worker that stopped or hangs.
Rows silent for longer than WORKER_PRUNE_SECONDS are deleted by the live workers' beats
(`prune`) and never listed, so the table does not grow with every restart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.models import WorkerProcess, utcnow


def heartbeat_interval(gone_seconds: float) -> float:
    """Return how often a worker writes its heartbeat: four beats per gone-interval, ≤ 15 s."""
    return max(0.2, min(15.0, gone_seconds / 4))


def beat(session: Session, worker_id: str, **values: Any) -> None:
    """Write the worker's heartbeat (creating its row on the first one) and commit."""
    values["last_seen_at"] = utcnow()
    result = session.execute(
        update(WorkerProcess).where(WorkerProcess.id == worker_id).values(**values)
    )
    if result.rowcount == 0:
        session.add(WorkerProcess(id=worker_id, **values))
    session.commit()


def prune(session: Session, prune_seconds: float) -> int:
    """Delete the rows of workers silent for longer than `prune_seconds`; return how many."""
    cutoff = utcnow() - dt.timedelta(seconds=prune_seconds)
    return session.execute(
        delete(WorkerProcess).where(WorkerProcess.last_seen_at < cutoff)
    ).rowcount


def list_workers(session: Session, gone_seconds: float, prune_seconds: float) -> list[dict]:
    """Return the workers heard from within `prune_seconds`, live ones first, each with `live`
    telling if it beat within `gone_seconds`."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=gone_seconds)
    rows = session.scalars(
        select(WorkerProcess)
        .where(WorkerProcess.last_seen_at >= now - dt.timedelta(seconds=prune_seconds))
        .order_by(WorkerProcess.last_seen_at.desc())
    )
    return [
        {
            "id": row.id,
            "host": row.host,
            "pid": row.pid,
            "queues": row.queues.split(",") if row.queues else [],
            "threads": row.threads,
            "current_jobs": row.current_jobs or [],
            "started_at": row.started_at,
            "last_seen_at": row.last_seen_at,
            "jobs_done": row.jobs_done,
            "jobs_failed": row.jobs_failed,
            "live": row.last_seen_at >= cutoff,
        }
        for row in rows
    ]


def conversion_slots(session: Session, queue: str, gone_seconds: float) -> int:
    """Return how many conversions the live workers consuming `queue` run at once (threads)."""
    cutoff = utcnow() - dt.timedelta(seconds=gone_seconds)
    rows = session.execute(
        select(WorkerProcess.queues, WorkerProcess.threads).where(
            WorkerProcess.last_seen_at >= cutoff
        )
    ).all()
    return sum(threads for queues, threads in rows if queue in (queues or "").split(","))
