"""Record each attempt of a step in the job's timeline (`core.timeline`), from the chain runner.

`attempt(rt, lease)` wraps a step's work: it writes the attempt's row when the work starts and
closes it with the outcome the exception (or its absence) means. It writes in sessions of its
own, so the step's session (rolled back on errors) never loses the record, and a failure to
write the timeline is logged, never raised: the history must not break the pipeline.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator

from dramatiq.middleware import CurrentMessage

from actors.errors import StepFailed, describe_error
from actors.lease import Lease, LeaseLost
from actors.runtime import Runtime
from conversion import Cancelled
from core import jobs, timeline

log = logging.getLogger(__name__)

HOST = socket.gethostname()


@contextlib.contextmanager
def attempt(rt: Runtime, lease: Lease) -> Iterator[None]:
    """Record the attempt of `lease`'s step around the block; re-raise whatever it raises."""
    event_id = _quietly(
        rt,
        lease.job_id,
        lambda s: timeline.start(s, lease.job_id, lease.step.value, lease.token, HOST, os.getpid()),
    )
    try:
        yield
    except BaseException as error:
        if event_id is not None:
            outcome, reason = _outcome(rt, lease, error)
            _quietly(rt, lease.job_id, lambda s: timeline.finish(s, event_id, outcome, reason))
        raise
    if event_id is not None:
        _quietly(rt, lease.job_id, lambda s: timeline.finish(s, event_id, "done"))


def _outcome(rt: Runtime, lease: Lease, error: BaseException) -> tuple[str, str | None]:
    if isinstance(error, (LeaseLost, Cancelled)):
        cancelled = _quietly(rt, lease.job_id, lambda s: jobs.is_cancelled(s, lease.job_id))
        return ("cancelled" if cancelled else "lease_lost"), None
    if isinstance(error, StepFailed):
        return "failed", error.reason
    message = CurrentMessage.get_current_message()
    retries = message.options.get("retries", 0) if message is not None else 0
    final = getattr(error, "permanent", False) or retries >= rt.settings.retry_max
    return ("failed" if final else "retry"), describe_error(error)


def _quietly(rt: Runtime, job_id: str, write):
    """Run `write(session)` in a session of its own; log (never raise) a database error.

    One line naming the job and the error's kind: during an outage every attempt fails to
    write, and a traceback each time would bury what matters (it is there at debug level).
    """
    try:
        with rt.sessions() as session:
            return write(session)
    except Exception as error:
        log.warning("job %s: timeline event not written: %s", job_id, type(error).__name__)
        log.debug("job %s: timeline write failed", job_id, exc_info=True)
        return None
