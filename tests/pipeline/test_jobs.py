"""The job leases and state helpers of core.jobs, on MariaDB, without a broker."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from core import jobs
from core.db import session_scope
from core.models import Job
from core.states import JobState, Step

LEASE = 5.0


def _age(sessions, job_id: str, seconds: float) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with session_scope(sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(updated_at=old))


def test_one_lease_at_a_time_and_takeover_after_expiry(sessions, job_id):
    with sessions() as a, sessions() as b:
        first = jobs.claim(a, job_id, Step.CONVERT, LEASE)
        assert first.acquired and first.token == 1 and first.job.started_at is not None
        busy = jobs.claim(b, job_id, Step.CONVERT, LEASE)
        assert not busy.acquired and 0 < busy.retry_in <= LEASE
        assert jobs.heartbeat(a, job_id, Step.CONVERT, first.token, 42.0)

        _age(sessions, job_id, LEASE + 1)  # the first worker died: no heartbeat since
        second = jobs.claim(b, job_id, Step.CONVERT, LEASE)
        assert second.acquired and second.token == 2
        # The first worker, if it comes back, learns it lost the job and stops.
        assert not jobs.heartbeat(a, job_id, Step.CONVERT, first.token)
        assert not jobs.advance(a, job_id, Step.CONVERT, first.token)
        assert jobs.advance(b, job_id, Step.CONVERT, second.token, progress=100.0)
        job = b.get(Job, job_id, populate_existing=True)
        assert job.state == "storing" and job.attempts == 0
        # A duplicate convert message now finds nothing to do.
        late = jobs.claim(a, job_id, Step.CONVERT, LEASE)
        assert not late.acquired and late.retry_in is None


def test_exhausted_duplicate_never_fails_a_job_another_worker_runs(sessions, job_id):
    with sessions() as session:
        claim = jobs.claim(session, job_id, Step.CONVERT, LEASE)
        assert not jobs.fail_step(
            session, job_id, Step.CONVERT, None, "gave up", lease_seconds=LEASE
        )
        # The actor released its lease after its own error: its token fails the job.
        assert jobs.release(session, job_id, Step.CONVERT, claim.token, "store down", LEASE)
        job = session.get(Job, job_id, populate_existing=True)
        assert job.state == "queued" and job.reason.endswith("store down")
        assert jobs.fail_step(
            session, job_id, Step.CONVERT, claim.token, "gave up", lease_seconds=LEASE
        )
        job = session.get(Job, job_id, populate_existing=True)
        assert (job.state, job.failed_step, job.reason) == ("failed", "convert", "gave up")


def test_cancel_is_seen_by_the_heartbeat(sessions, job_id, store):
    with sessions() as worker, sessions() as web:
        claim = jobs.claim(worker, job_id, Step.CONVERT, LEASE)
        assert jobs.cancel_job(web, store, web.get(Job, job_id)) is True
        assert not jobs.heartbeat(worker, job_id, Step.CONVERT, claim.token)
        assert jobs.is_cancelled(worker, job_id)


def test_retry_goes_back_to_the_failed_step(sessions, job_id):
    with session_scope(sessions) as session:
        job = session.get(Job, job_id)
        job.state = JobState.FAILED.value
        job.failed_step = Step.STORE.value
        job.mp3_blob_id = job_id
        job.reason = "The file store was unavailable."
        assert jobs.retry_job(session, job) is Step.STORE
        assert job.state == "storing" and job.reason is None and job.attempts == 0
    with sessions() as session:
        assert jobs.claim(session, job_id, Step.STORE, LEASE).acquired


def test_notify_failure_ends_the_job_done(sessions, job_id):
    with session_scope(sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(state="notifying", attempts=0))
    with sessions() as session:
        claim = jobs.claim(session, job_id, Step.NOTIFY, LEASE)
        assert jobs.fail_step(session, job_id, Step.NOTIFY, claim.token, "no mail server")
        job = session.get(Job, job_id, populate_existing=True)
        assert job.state == "done" and job.failed_step is None


def test_an_advanced_job_owes_its_next_message_until_it_is_sent(sessions, job_id):
    from core import outbox

    with sessions() as session:
        claim = jobs.claim(session, job_id, Step.CONVERT, LEASE)
        assert claim.job.enqueued_at is not None  # its convert message was delivered
        assert jobs.advance(session, job_id, Step.CONVERT, claim.token)
        # Had the broker been away for the store message, the dispatcher would find it so.
        assert (job_id, Step.STORE) in outbox.unsent_jobs(session, older_than_seconds=-60)
        outbox.mark_enqueued(session, job_id)
        assert (job_id, Step.STORE) not in outbox.unsent_jobs(session, older_than_seconds=-60)
