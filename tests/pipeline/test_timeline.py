"""The chain runner records every attempt in the job's timeline; workers write heartbeats."""

from __future__ import annotations

import os

from actors import timeline as attempts
from actors.lease import claim
from core import timeline, workers
from core.db import session_scope
from core.states import Step
from core.storage import StorageError

LEASE = 5.0


def _timeline(h, job_id):
    with session_scope(h.sessions) as session:
        return [
            (e.step, e.attempt, e.outcome, e.error, e.worker_pid, e.ended_at is not None)
            for e in timeline.for_job(session, job_id)
        ]


def test_the_claim_opens_the_attempt_and_the_advance_closes_it(sessions, job_id, h):
    with sessions() as session:
        lease = claim(session, job_id, Step.CONVERT, LEASE)
        assert lease is not None and lease.event_id is not None
        # Committed with the claim: another session sees the lease and the running attempt.
        assert h.load(job_id).state == "converting"
        assert _timeline(h, job_id) == [("convert", 1, None, None, os.getpid(), False)]
        lease.advance(progress=100.0)
    assert h.load(job_id).state == "storing"
    assert _timeline(h, job_id) == [("convert", 1, "done", None, os.getpid(), True)]


def test_a_timeline_row_that_cannot_be_written_never_stops_the_step(
    sessions, job_id, h, monkeypatch, caplog
):
    monkeypatch.setattr(attempts, "HOST", "h" * 300)  # too long for its column: the row fails
    with sessions() as session:
        lease = claim(session, job_id, Step.CONVERT, LEASE)
        assert lease is not None and lease.event_id is None
        assert h.load(job_id).state == "converting"
        lease.advance(progress=100.0)
    assert h.load(job_id).state == "storing"
    assert _timeline(h, job_id) == []
    assert "timeline event not written" in caplog.text


def test_a_forced_retry_shows_in_the_timeline(pipeline_settings, run_worker, submit, media, h):
    worker = run_worker(pipeline_settings)
    store = worker.runtime.store
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise StorageError("down")
        del store.open_range
        return store.open_range(*args, **kwargs)

    store.open_range = fails_once
    job_id = submit(media.video)
    assert h.wait_for(job_id, "done", "failed").state == "done"
    pid = os.getpid()
    assert _timeline(h, job_id) == [
        ("convert", 1, "retry", "The file store was unavailable.", pid, True),
        ("convert", 2, "done", None, pid, True),
        ("store", 1, "done", None, pid, True),
        ("notify", 1, "done", None, pid, True),
    ]


def test_exhausted_retries_end_with_failed(pipeline_settings, run_worker, submit, media, h):
    worker = run_worker(pipeline_settings.replace(retry_max=1))
    store = worker.runtime.store

    def broken(*args, **kwargs):
        raise StorageError("down")

    store.open_range = store.local_path = broken
    job_id = submit(media.video)
    assert h.wait_for(job_id, "failed", "done").state == "failed"
    assert [(step, n, outcome) for step, n, outcome, *_ in _timeline(h, job_id)] == [
        ("convert", 1, "retry"),
        ("convert", 2, "failed"),
    ]


def test_a_worker_writes_heartbeats_with_its_counts(
    pipeline_settings, run_worker, submit, media, h
):
    settings = pipeline_settings.replace(worker_gone_seconds=2.0)
    worker = run_worker(settings)
    job_id = submit(media.video)
    assert h.wait_for(job_id, "done", "failed").state == "done"
    queues = {pipeline_settings.video_queue, pipeline_settings.mp3_queue}

    def mine():
        with session_scope(h.sessions) as session:
            found = workers.list_workers(
                session, settings.worker_gone_seconds, settings.worker_prune_seconds
            )
        return [w for w in found if set(w["queues"]) & queues]

    # The counts reach the row with the next beat (every half second here).
    h.wait_until(lambda: mine() and mine()[0]["jobs_done"] >= 3, timeout=30, what="a heartbeat")
    (row,) = mine()
    assert row["pid"] == os.getpid() and row["live"] and row["jobs_failed"] == 0
    assert row["threads"] >= 1 and row["current_jobs"] == []
    worker.stop(timeout_ms=10_000)
    h.wait_until(lambda: not mine()[0]["live"], timeout=30, what="the worker shown gone")
