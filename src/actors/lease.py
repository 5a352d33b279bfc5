"""Hold one step of one job under a lease: claim it, keep it alive, and end it with one write.

`claim` takes the lease with `core.jobs.claim` (the compare-and-set on the job row) and returns
a `Lease`, or None when there is nothing to do. Every later write of the step goes through the
lease, i.e. through `core.jobs`' fenced updates: `record` (facts on the way), `advance` (the step
is done), `fail` (for good) and `release` (after a transient error, before Dramatiq retries).
The claim opens the attempt's timeline row and the advance closes it, each in the same commit
(`actors.timeline`); the lease keeps the row's id (`event_id`) for the other endings.
While a step works, `should_stop()` writes a heartbeat about once a second and tells whether the
lease is gone (cancelled, or taken over by another worker after this one looked dead); it is
the `cancel` callable handed to ffmpeg. `check()` looks at the row between a step's phases
(before the MP3 is written) without writing it.

The token of the lease is also kept in the Dramatiq message's options (through Dramatiq's
`CurrentMessage` middleware), so the exhausted-retries hook can fail the job with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actors import timeline
from core import jobs
from core.models import Job
from core.states import Step

log = logging.getLogger(__name__)

# The message option that carries the token of the lease this delivery took.
LEASE_OPTION = "vid2mp3_lease"
# The message option that carries a lease an earlier delivery could not give back.
UNRELEASED_OPTION = "vid2mp3_unreleased"


class LeaseLost(Exception):
    """The job was cancelled or taken over by another worker; stop quietly."""


class Lease:
    """The claim on one step of one job, refreshed about once a second while work goes on."""

    def __init__(
        self,
        session: Session,
        job: Job,
        step: Step,
        token: int,
        lease_seconds: float,
        event_id: int | None = None,
    ) -> None:
        self.session = session
        self.job = job
        self.job_id = job.id
        self.step = step
        self.token = token
        self.lease_seconds = lease_seconds
        self.event_id = event_id  # the attempt's timeline row (None if it could not be written)
        self.interval = min(1.0, lease_seconds / 5)
        self._last_beat = time.monotonic()
        self._last_ok = self._last_beat
        self._progress: float | None = None
        self._lost = False
        self._beating = True

    # -- while the step works ----------------------------------------------------------------

    def progress(self, percent: float) -> None:
        """Remember the progress; the next heartbeat writes it (ffmpeg reports twice a second)."""
        self._progress = min(99.0, percent)
        self.should_stop()

    def should_stop(self) -> bool:
        """Heartbeat if one is due; tell whether the lease is gone (ffmpeg's `cancel` callable)."""
        now = time.monotonic()
        if self._lost or now - self._last_beat < self.interval:
            return self._lost
        self._last_beat = now
        held = self._ask(
            lambda: jobs.heartbeat(self.session, self.job_id, self.step, self.token, self._progress)
        )
        if held is not None:
            self._last_ok = now
        return self._lost

    def check(self) -> None:
        """Raise LeaseLost if the lease is gone now (between a step's phases).

        One read of the row, in the step's transaction (its next write commits it): the
        heartbeats while the step works keep the lease fresh, so this only has to look.
        """
        if not self._lost:
            self._ask(lambda: jobs.holds(self.session, self.job_id, self.step, self.token))
        if self._lost:
            raise LeaseLost()

    def _ask(self, held: Callable[[], bool]) -> bool | None:
        """Run `held()` and remember a lost lease; None when the database did not answer."""
        try:
            answer = held()
        except SQLAlchemyError:
            self.session.rollback()
            # A short database outage must not kill a long conversion; a long one must, since
            # another worker may take the job over once the lease has expired.
            if time.monotonic() - self._last_ok > self.lease_seconds * 0.6:
                raise
            if self._beating:  # one line per outage, not one per second
                log.warning("job %s: heartbeat failed; the database may be down", self.job_id)
            self._beating = False
            return None
        self._beating = True
        self._lost = not answer
        return answer

    def ensure_held(self) -> None:
        """Heartbeat if one is due; raise LeaseLost if the lease is gone (between chunks)."""
        if self.should_stop():
            raise LeaseLost()

    def reader(self, f: Any) -> _BeatingReader:
        """Wrap a file so that a store reading it heart-beats the lease (an MP3 upload)."""
        return _BeatingReader(f, self)

    # -- the writes that end or mark the step -------------------------------------------------

    def record(self, **values: Any) -> None:
        """Write facts on the job under the lease; raise LeaseLost if it is gone."""
        if not jobs.record(self.session, self.job_id, self.step, self.token, **values):
            raise LeaseLost()

    def advance(self, **values: Any) -> None:
        """Finish the step: the job moves to its next state, its attempt is closed "done", in
        one commit; raise LeaseLost if the lease is gone."""
        held, _ = timeline.commit_with(
            self.session,
            self.job_id,
            lambda: jobs.advance(
                self.session, self.job_id, self.step, self.token, commit=False, **values
            ),
            lambda held: timeline.close_done(self.session, self.event_id) if held else None,
        )
        if not held:
            raise LeaseLost()

    def fail(self, reason: str, **values: Any) -> bool:
        """Fail the job for good at this step; False when the lease was lost meanwhile."""
        self.session.rollback()
        return jobs.fail_step(
            self.session, self.job_id, self.step, self.token, reason, values=values
        )

    def release(self, reason: str) -> None:
        """Give the lease back after a transient error before Dramatiq retries.

        When the database is away, the token rides on the message instead, so that its retry
        takes this lease over at once rather than waiting it out as another worker's.
        """
        try:
            self.session.rollback()
            jobs.release(
                self.session, self.job_id, self.step, self.token, reason, self.lease_seconds
            )
        except SQLAlchemyError as error:
            self.session.rollback()
            message = CurrentMessage.get_current_message()
            if message is not None:
                message.options[UNRELEASED_OPTION] = self.token
            log.warning(
                "job %s: could not release the lease (%s); the retry resumes it",
                self.job_id,
                type(getattr(error, "orig", None) or error).__name__,
            )


class _BeatingReader:
    """A file reader that heart-beats the lease while the store reads it."""

    def __init__(self, f: Any, lease: Lease) -> None:
        self._f = f
        self._lease = lease

    def read(self, n: int = -1) -> bytes:
        self._lease.ensure_held()
        return self._f.read(n)


def claim(session: Session, job_id: str, step: Step, lease_seconds: float) -> Lease | None:
    """Claim `step` of the job and open its attempt in the timeline; None when there is nothing
    to do.

    Raises `dramatiq.Retry` when another delivery holds a fresh lease: it runs, or its worker
    just died. The message comes back when the lease would have expired; a live worker will
    have finished by then.
    """
    message = CurrentMessage.get_current_message()
    resume = message.options.get(UNRELEASED_OPTION) if message is not None else None
    outcome, event_id = timeline.commit_with(
        session,
        job_id,
        lambda: jobs.claim(session, job_id, step, lease_seconds, resume_token=resume, commit=False),
        lambda claim: (
            timeline.open_attempt(session, job_id, step, claim.token) if claim.acquired else None
        ),
    )
    if outcome.acquired:
        if message is not None:
            message.options.pop(UNRELEASED_OPTION, None)
            message.options[LEASE_OPTION] = outcome.token
        log.info("job %s: %s started (attempt %d)", job_id, step, outcome.token)
        return Lease(session, outcome.job, step, outcome.token, lease_seconds, event_id)
    if outcome.retry_in is not None:
        log.info("job %s: %s is held by another worker; retrying later", job_id, step)
        raise dramatiq.Retry(delay=int(outcome.retry_in * 1000) + 500)
    state = outcome.job.state if outcome.job is not None else "deleted"
    log.info("job %s: nothing to do for %s (job is %s)", job_id, step, state)
    return None
