"""Record each attempt of a step in the job's timeline (`core.timeline`), in the step's session.

On the way a step normally goes, the timeline costs no commit of its own: the attempt's row is
added in the claim's transaction (`actors.lease.claim`, `open_attempt`) and closed "done" in
the advance's (`Lease.advance`, `close_done`), both through `commit_with`. An attempt that ends
otherwise is closed by the chain runner with `close` once the step's own write is done: retry,
failed, cancelled or lease_lost, in a transaction of its own, since the step's may have been
rolled back.

A failure to write the timeline is logged, never raised: the history must not break the
pipeline. When the row fails inside the step's transaction, that transaction is rolled back and
the step's write runs again alone.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from core import timeline
from core.states import Step

log = logging.getLogger(__name__)

HOST = socket.gethostname()

T = TypeVar("T")


def commit_with(
    session: Session, job_id: str, write: Callable[[], T], event: Callable[[T], int | None]
) -> tuple[T, int | None]:
    """Run the step's `write()`, then the timeline's `event(result)`, and commit both at once.

    Returns `write`'s result and the event's (None when the event failed; that is logged).
    """
    result = write()
    try:
        recorded = event(result)
    except Exception as error:
        _warn(job_id, error)
        session.rollback()
        result, recorded = write(), None
    session.commit()
    return result, recorded


def open_attempt(session: Session, job_id: str, step: Step, token: int) -> int:
    """Add the row of attempt `token` of `step` run by this process; return its event id."""
    return timeline.start(session, job_id, step.value, token, HOST, os.getpid())


def close_done(session: Session, event_id: int | None) -> None:
    """Close the attempt `event_id` (if it was recorded) as done, in the caller's transaction."""
    if event_id is not None:
        timeline.finish(session, event_id, "done")


def close(session: Session, job_id: str, event_id: int | None, outcome: str, error=None) -> None:
    """Close the attempt `event_id` (if it was recorded) with its outcome, and commit."""
    if event_id is None:
        return
    try:
        timeline.finish(session, event_id, outcome, error)
        session.commit()
    except Exception as error:
        session.rollback()
        _warn(job_id, error)


def _warn(job_id: str, error: Exception) -> None:
    # One line naming the job and the error's kind: during an outage every attempt fails to
    # write, and a traceback each time would bury what matters (it is there at debug level).
    log.warning("job %s: timeline event not written: %s", job_id, type(error).__name__)
    log.debug("job %s: timeline write failed", job_id, exc_info=error)
