"""The pipeline's topology, convert → store → notify, and the one runner every step goes through.

The job row is the only scheduler. Each actor claims its step on the row (`actors.lease.claim`),
runs the step's work, advances the row with the lease's compare-and-set, and only then sends the
next step's message. A step that fails sends nothing. The advance leaves the next message owed
(`core.outbox`) until the send succeeds: a broker away at that moment, or a crash between the
two, leaves it to the worker's dispatcher, which sends it as soon as the broker is back.
Messages carry a job id and nothing else, so a message delivered twice, a dispatcher's or
sweeper's extra message and a redelivery after a SIGKILL all end with one MP3 blob and one
e-mail. With fair sharing, a conversion that ends (whatever its outcome) frees a slot, so the
convert actor then releases the next held job (`core.fairqueue`).

Errors: `StepFailed` (and permanent conversion errors, which the convert step turns into it)
fails the job at once with its reason; anything else gives the lease back and raises, so
Dramatiq retries with backoff; when retries run out `actors.middleware.RecordExhaustedJobs`
fails the job with the last error. Cancellation and lease loss stop the step quietly.

Each attempt is recorded in the job's timeline (`actors.timeline`): opened with the claim and
closed "done" with the advance, in their commits; the runner closes it with any other outcome.
One database session serves the whole step, from the claim to the outbox mark after the send.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors import convert, notify, store, timeline
from actors.errors import StepFailed, describe_error
from actors.lease import Lease, LeaseLost, claim
from actors.runtime import Runtime
from conversion import Cancelled
from core import fairqueue, jobs, outbox
from core.job_blobs import mp3_blobs, video_blobs
from core.settings import Settings
from core.states import Step

log = logging.getLogger(__name__)

Work = Callable[[Runtime, Lease], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Link:
    """One step of the chain: its work, the step after it, its queue and its actor options."""

    step: Step
    work: Work
    next: Step | None
    queue: Callable[[Settings], str]
    options: Callable[[Settings], dict[str, Any]]


def _long_running(settings: Settings) -> dict[str, Any]:
    # Dramatiq's TimeLimit is only a backstop: the conversion's own deadline comes first.
    limit = int((settings.max_duration_seconds + 3600) * 1000)
    return {"notify_shutdown": True, "time_limit": limit}


def _converting(settings: Settings) -> dict[str, Any]:
    # A worker runs the messages it has prefetched lowest priority number first: the store
    # and notify steps (0) of jobs already converted go before a new conversion, so a started
    # job finishes first and the time it held a slot stays what the estimates measure.
    return {**_long_running(settings), "priority": 10}


CHAIN = (
    Link(Step.CONVERT, convert.convert, Step.STORE, lambda s: s.video_queue, _converting),
    Link(Step.STORE, store.store, Step.NOTIFY, lambda s: s.video_queue, _long_running),
    Link(
        Step.NOTIFY, notify.notify, None, lambda s: s.mp3_queue, lambda s: {"time_limit": 900_000}
    ),
)


def declare(broker: dramatiq.Broker, runtime: Runtime) -> None:
    """Declare one actor per link of `CHAIN` on `broker`, bound to `runtime`."""
    for link in CHAIN:

        def actor(job_id: str, link: Link = link) -> None:
            try:
                run_step(runtime, link, job_id, lambda step: enqueue_pipeline(job_id, step, broker))
            finally:
                if link.step is Step.CONVERT and runtime.settings.fair_queue:
                    _release_held(runtime, broker)

        dramatiq.actor(
            actor,
            actor_name=link.step.value,
            queue_name=link.queue(runtime.settings),
            broker=broker,
            **link.options(runtime.settings),
        )


def _release_held(rt: Runtime, broker: dramatiq.Broker) -> None:
    """A conversion ended, so a slot is free: send the next held jobs, if any (core.fairqueue)."""
    try:
        if not fairqueue.any_held(rt.sessions):
            return
        fairqueue.release(
            rt.sessions, rt.settings, lambda job_id, step: enqueue_pipeline(job_id, step, broker)
        )
    except Exception as error:
        log.warning(
            "could not release held jobs now (%s); the dispatcher will", describe_error(error)
        )


def enqueue_pipeline(
    job_id: str, step: Step = Step.CONVERT, broker: dramatiq.Broker | None = None
) -> None:
    """Send the message of the job's `step` (upload, retry and the sweeper hand jobs over so).

    Call it only after the job row is committed, so a worker never looks for a missing row.
    The steps after it are sent by the pipeline itself, each when the one before succeeded.
    """
    broker = broker or dramatiq.get_broker()
    broker.get_actor(Step(step).value).send(job_id)


def run_step(rt: Runtime, link: Link, job_id: str, send: Callable[[Step], None]) -> None:
    """Claim the step, run its work, advance the row, then send the next step's message.

    One session serves the whole step: the claim (with the attempt's timeline row), the
    heartbeats, the advance (closing the row) and the outbox mark after the send.
    """
    with rt.sessions() as session:
        lease = claim(session, job_id, link.step, rt.lease_seconds)
        if lease is None:
            return
        if link.step is Step.CONVERT and lease.token == 1:  # its first attempt since queued
            rt.metrics.observe_wait(lease.job)
        try:
            lease.advance(**link.work(rt, lease))
        except (LeaseLost, Cancelled):
            _stopped(rt, lease)
            return
        except StepFailed as failure:
            _fail(rt, lease, failure)
            return
        except BaseException as error:
            _retry(rt, lease, error)
            raise
        if link.step is Step.CONVERT:
            rt.metrics.jobs.labels("converted").inc()
        if link.next is None:
            log.info("job %s: done", job_id)
            return
        send(link.next)
        outbox.mark_enqueued(session, job_id)


def _stopped(rt: Runtime, lease: Lease) -> None:
    """Stop quietly; if the job was cancelled, remove blobs that may have just been written."""
    lease.session.rollback()
    cancelled = jobs.is_cancelled(lease.session, lease.job_id)
    _close(lease, "cancelled" if cancelled else "lease_lost")
    if cancelled:
        log.info("job %s: cancelled during %s; stopped", lease.job_id, lease.step)
        blobs = mp3_blobs(lease.job_id) + video_blobs(lease.job_id)
        jobs.delete_blobs_quietly(rt.store, *blobs)
    else:
        log.info("job %s: another worker took over %s; stopped", lease.job_id, lease.step)


def _fail(rt: Runtime, lease: Lease, failure: StepFailed) -> None:
    """Fail the job for good, unless it was cancelled (its video deleted) in the meantime."""
    if not lease.fail(failure.reason, **failure.values):
        _stopped(rt, lease)
        return
    _close(lease, "failed", failure.reason)
    log.warning("job %s: %s failed for good: %s", lease.job_id, lease.step, failure.reason)
    if lease.step is Step.CONVERT:
        rt.metrics.jobs.labels("failed").inc()


def _retry(rt: Runtime, lease: Lease, error: BaseException) -> None:
    """Give the lease back so that Dramatiq's retry (if any is left) can claim it at once."""
    reason = describe_error(error)
    log.warning("job %s: %s failed, will retry: %s", lease.job_id, lease.step, reason)
    if lease.step is Step.CONVERT:
        rt.metrics.jobs.labels("retried").inc()
    lease.release(reason)
    message = CurrentMessage.get_current_message()
    retries = message.options.get("retries", 0) if message is not None else 0
    final = getattr(error, "permanent", False) or retries >= rt.settings.retry_max
    _close(lease, "failed" if final else "retry", reason)


def _close(lease: Lease, outcome: str, error: str | None = None) -> None:
    """Close the attempt's timeline row after the step's own write (see actors.timeline)."""
    timeline.close(lease.session, lease.job_id, lease.event_id, outcome, error)
