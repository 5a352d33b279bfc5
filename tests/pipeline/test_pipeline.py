"""The pipeline on the stub broker with an in-process worker, against MariaDB, secantusdb,
ffmpeg and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import logging
import re
import threading

import pytest
from sqlalchemy import update

from blobs import blobs_of, has_blob
from core.jobs import cancel_job, retry_job, sweep_stuck_jobs
from core.mail import SIGNATURE_HEADER, verify_signature, webhook_secret
from core.models import Job
from core.states import JobState, Step
from core.tokens import DOWNLOAD_AUDIENCE, token_service

pytestmark = pytest.mark.usefixtures("mailbox")


@pytest.fixture(params=["gridfs", "folder"])
def any_store_settings(request, pipeline_settings, tmp_path):
    """The pipeline's settings on GridFS, then on the folder store (ffmpeg reads its file)."""
    if request.param == "gridfs":
        return pipeline_settings
    return pipeline_settings.replace(storage_url=(tmp_path / "blobs").as_uri())


def test_video_becomes_mp3_and_owner_gets_mail(
    any_store_settings, run_worker, submit_factory, sessions, media, mailbox, h, work_root, tally
):
    from core.storage import open_store

    counted = tally(run_worker(any_store_settings))
    submit, _ = submit_factory(any_store_settings, sessions)
    store = open_store(any_store_settings.storage_url)
    job_id = submit(media.video)

    job = h.wait_for(job_id, "done", "failed")

    assert job.state == "done", job.reason
    assert job.reason is None and job.progress == 100.0
    assert job.mp3_blob_id == job_id
    info = store.info("mp3s", job_id)
    assert info.content_type == "audio/mpeg" and info.filename == "clip.mp3"
    assert job.mp3_size == info.size and job.mp3_sha256 == info.sha256
    data = b"".join(store.open_range("mp3s", job_id))
    assert hashlib.sha256(data).hexdigest() == info.sha256
    assert abs(job.mp3_duration - 3.0) < 0.5 and abs(job.duration - 3.0) < 0.5
    assert job.mp3_bitrate == 192
    assert job.media["audio_streams"][0]["codec"] == "aac"
    assert job.converted_at and job.stored_at and job.notified_at and job.finished_at
    # The source video is not kept by default.
    assert not has_blob(store, "videos", job_id) and job.video_blob_id is None

    box, _ = mailbox
    [mail] = box.for_job(job_id)
    assert mail["Message-ID"] == f"<job-{job_id}@vid2mp3>"
    body = mail.get_payload(decode=True).decode()
    assert "the link works for 7 days, no login needed" in body
    link = re.search(r"http://testserver/d/(\S+)", body)
    assert link, body
    claims = token_service(any_store_settings).verify(link[1], audience=DOWNLOAD_AUDIENCE)
    assert claims["sub"] == job_id
    assert h.files_under(work_root) == []
    # One message per step: each step sent the next one once it had advanced the row.
    assert counted.counts(job_id) == {"convert": 1, "store": 1, "notify": 1}
    store.close()


def test_audio_only_input_converts(pipeline_settings, run_worker, submit, media, h):
    run_worker(pipeline_settings)
    job = h.wait_for(submit(media.audio_only), "done", "failed")
    assert job.state == "done", job.reason
    assert abs(job.mp3_duration - 2.0) < 0.5


def test_keep_video_keeps_the_source(pipeline_settings, run_worker, submit, store, media, h):
    run_worker(pipeline_settings)
    job_id = submit(media.video, keep_video=True)
    job = h.wait_for(job_id, "done", "failed")
    assert job.state == "done"
    assert has_blob(store, "videos", job_id) and job.video_blob_id == job_id


BAD_INPUTS = [
    ("empty", "The file is empty."),
    ("text", "not"),
    ("truncated", "incomplete"),
    ("no_audio", "no audio track"),
    ("long_silence", "longer than the allowed 0:00:10"),
]


@pytest.mark.parametrize(("name", "reason"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_fails_with_its_reason_and_the_worker_goes_on(
    name, reason, pipeline_settings, run_worker, submit, store, media, h, work_root, mailbox, tally
):
    settings = pipeline_settings.replace(max_duration_seconds=10.0)
    worker = run_worker(settings)
    counted = tally(worker)
    bad = submit(getattr(media, name))
    good = submit(media.audio_only)

    job = h.wait_for(bad, "failed", "done")
    assert job.state == "failed"
    assert job.failed_step == "convert"
    assert reason.lower() in job.reason.lower()
    assert job.attempts == 1, "a permanent error is not retried"
    assert not has_blob(store, "mp3s", bad)
    # A failed job keeps its video so it can be retried; no e-mail for it.
    assert has_blob(store, "videos", bad)
    assert mailbox[0].for_job(bad) == []

    assert h.wait_for(good, "done", "failed").state == "done"
    assert h.files_under(work_root) == []
    # The failed step sent nothing: no store or notify message was ever made for the job.
    worker.broker.join(settings.video_queue)
    worker.broker.join(settings.mp3_queue)
    assert counted.counts(bad) == {"convert": 1, "store": 0, "notify": 0}


def test_lying_extension_still_converts(pipeline_settings, run_worker, submit, media, h):
    run_worker(pipeline_settings)
    job = h.wait_for(submit(media.lying), "done", "failed")
    assert job.state == "done", job.reason
    assert job.media["container"].startswith("matroska")


def test_a_container_claiming_ten_hours_converts_its_two_seconds(
    pipeline_settings, run_worker, submit, media, h
):
    run_worker(pipeline_settings.replace(max_duration_seconds=4 * 3600.0))
    job = h.wait_for(submit(media.claims_ten_hours), "done", "failed")
    assert job.state == "done", job.reason
    assert job.mp3_duration == pytest.approx(2.0, abs=0.2)
    assert job.duration == pytest.approx(2.0, abs=0.2)  # what the file holds, not its 10 h claim


def test_same_messages_twice_give_one_mp3_and_one_mail(
    pipeline_settings, run_worker, submit, store, media, h, mailbox, tally
):
    from actors import enqueue_pipeline

    worker = run_worker(pipeline_settings, threads=4)
    counted = tally(worker)
    job_id = submit(media.video)
    enqueue_pipeline(job_id)  # a duplicate delivery, racing the first
    h.wait_for(job_id, "done", "failed")
    # And once more after it finished, every step.
    for step in Step:
        enqueue_pipeline(job_id, step)
    # The duplicates read the row and stop; only the steps that advanced sent the next one:
    # 3 converts (two racing, one late), 2 stores and 2 notifies, each ending without an error.
    expected = {"convert": 3, "store": 2, "notify": 2}
    h.wait_until(lambda: counted.counts(job_id) == expected, what="the duplicates to finish")
    worker.broker.join(pipeline_settings.video_queue)
    worker.broker.join(pipeline_settings.mp3_queue)
    assert counted.counts(job_id) == expected

    assert blobs_of(store, "mp3s", job_id) == [job_id]
    assert len(mailbox[0].for_job(job_id)) == 1
    job = h.load(job_id)
    assert job.state == "done" and job.reason is None


def test_cancel_kills_the_conversion_and_removes_blobs(
    pipeline_settings, run_worker, submit, store, sessions, media, h, work_root
):
    run_worker(pipeline_settings)
    job_id = submit(media.long, options={"bitrate": 64})
    h.wait_until(lambda: h.load(job_id).progress > 0, what="the conversion to start")

    with sessions() as session:
        job = session.get(Job, job_id)
        assert cancel_job(session, store, job) is True

    h.wait_until(lambda: not h.files_under(work_root), what="the work folder to go")
    h.wait_until(lambda: not h.ffmpeg_processes(str(work_root)), what="ffmpeg to be killed")
    job = h.load(job_id)
    assert job.state == "cancelled" and 0 < job.progress < 100
    assert not has_blob(store, "videos", job_id)
    assert not has_blob(store, "mp3s", job_id)
    assert h.zombie_children() == []


def test_storage_outage_retries_then_fails_with_the_last_error(
    pipeline_settings, run_worker, submit, media, h
):
    from core.storage import StorageError

    worker = run_worker(pipeline_settings)
    store = worker.runtime.store

    def broken(*args, **kwargs):
        raise StorageError("down")

    # Instance attributes shadow the methods for this worker only.
    store.open_range = store.local_path = broken
    job_id = submit(media.video)

    job = h.wait_for(job_id, "failed", "done")
    assert job.failed_step == "convert"
    assert job.reason == "The file store was unavailable."
    assert job.attempts == pipeline_settings.retry_max + 1
    # The message is kept in the dead-letter queue.
    dead = [m for m in worker.broker.dead_letters if m.args == (job_id,)]
    assert [m.actor_name for m in dead] == ["convert"]

    # Retry from the failed step once the store is back.
    del store.open_range, store.local_path
    with sessions_scope(h) as session:
        job = session.get(Job, job_id)
        assert retry_job(session, job) is Step.CONVERT
    from actors import enqueue_pipeline

    enqueue_pipeline(job_id, Step.CONVERT)
    job = h.wait_for(job_id, "done", "failed")
    assert job.state == "done" and job.reason is None and job.failed_step is None


def sessions_scope(h):
    from core.db import session_scope

    return session_scope(h.sessions)


def test_retry_refuses_a_job_that_did_not_fail(pipeline_settings, submit, media, h):
    from actors.broker import setup_broker
    from core.states import InvalidTransition

    setup_broker(pipeline_settings)
    job_id = submit(media.video, enqueue=False)
    with sessions_scope(h) as session, pytest.raises(InvalidTransition):
        retry_job(session, session.get(Job, job_id))


def test_smtp_outage_never_fails_the_job(pipeline_settings, run_worker, submit, media, h, caplog):
    from testservices import free_port

    # The e-mail's next attempt lies beyond the run, so no other test's dispatcher (this
    # database is shared) takes it; tests/faults covers the resending.
    settings = pipeline_settings.replace(
        smtp_url=f"smtp://127.0.0.1:{free_port()}", retry_min_backoff_ms=3_600_000
    )
    worker = run_worker(settings)
    caplog.set_level("INFO")
    job_id = submit(media.video)
    job = h.wait_for(job_id, "done", "failed")
    # Every record made while one of the job's messages ran carries its id (Dramatiq's
    # CurrentMessage); none made outside one does.
    ours = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
    assert any(r.getMessage().startswith(f"job {job_id}: e-mail not sent") for r in ours)
    assert any(r.getMessage().startswith(f"job {job_id}: convert started") for r in ours)
    logging.getLogger("tests.outside").info("not in a message")
    [outside] = [r for r in caplog.records if r.name == "tests.outside"]
    assert not hasattr(outside, "job_id")
    # Done, its MP3 kept; the e-mail stays pending for the dispatcher (tests/faults).
    assert job.state == "done"
    assert job.reason is None
    assert job.email_due_at is not None and job.notified_at is None
    assert worker.broker.dead_letters == []


def test_outbox_folder_mail(pipeline_settings, run_worker, submit, media, h, tmp_path):
    outbox = tmp_path / "outbox"
    run_worker(pipeline_settings.replace(smtp_url=f"file://{outbox}"))
    job_id = submit(media.audio_only)
    assert h.wait_for(job_id, "done", "failed").state == "done"
    assert [p.name for p in outbox.iterdir()] == [f"{job_id}.eml"]
    assert f"Message-ID: <job-{job_id}@vid2mp3>" in (outbox / f"{job_id}.eml").read_text()


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers, body))
        status = 500 if len(self.received) == 1 else 204  # fail once: the call is retried
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_is_signed_and_retried(pipeline_settings, run_worker, submit, media, h, mailbox):
    received: list = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run_worker(pipeline_settings)
        url = f"http://127.0.0.1:{server.server_port}/hook"
        job_id = submit(media.audio_only, webhook_url=url)
        job = h.wait_for(job_id, "done", "failed")
    finally:
        server.shutdown()
    assert job.state == "done" and job.reason is None
    assert len(received) == 2
    headers, body = received[-1]
    secret = webhook_secret(pipeline_settings.signing_secret(), job.user_id)
    assert verify_signature(secret, body, headers[SIGNATURE_HEADER])
    assert not verify_signature("another-secret", body, headers[SIGNATURE_HEADER])
    payload = json.loads(body)
    assert payload["job_id"] == job_id and payload["state"] == "done"
    assert "/d/" in payload["download_url"]
    # The e-mail went out once although the notify step ran twice.
    assert len(mailbox[0].for_job(job_id)) == 1


def test_sweeper_reenqueues_a_job_whose_message_was_lost(
    pipeline_settings, run_worker, submit, media, h, sessions
):
    from actors import enqueue_pipeline

    run_worker(pipeline_settings)
    job_id = submit(media.audio_only, enqueue=False)  # as if the broker lost the message
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=pipeline_settings.stuck_job_seconds + 5)
    with sessions_scope(h) as session:
        session.execute(update(Job).where(Job.id == job_id).values(updated_at=old))

    swept: list = []

    def enqueue(job, step):
        swept.append((job, step))
        if job == job_id:  # other tests' stale jobs are not ours to run
            enqueue_pipeline(job, step)

    sweep_stuck_jobs(sessions, enqueue, pipeline_settings.stuck_job_seconds)
    assert (job_id, Step.CONVERT) in swept
    # A second sweeper right after finds nothing to do for it: the first one took it.
    again: list = []
    sweep_stuck_jobs(sessions, lambda j, s: again.append(j), pipeline_settings.stuck_job_seconds)
    assert job_id not in again
    assert h.wait_for(job_id, "done", "failed").state == "done"


def test_sweeper_puts_a_dead_workers_conversion_back_in_the_queue(
    pipeline_settings, submit, media, h, sessions
):
    from actors.broker import setup_broker

    setup_broker(pipeline_settings)
    job_id = submit(media.audio_only, enqueue=False)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    with sessions_scope(h) as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state=JobState.CONVERTING.value, attempts=1, progress=40.0, updated_at=old)
        )
    swept: list = []
    sweep_stuck_jobs(sessions, lambda j, s: swept.append((j, s)), 10)
    assert (job_id, Step.CONVERT) in swept
    job = h.load(job_id)
    assert job.state == "queued" and job.progress == 0.0


def test_media_facts_already_on_the_job_are_used(
    pipeline_settings, run_worker, submit, store, media, h, tmp_path
):
    import dataclasses

    from conversion import probe

    facts = dataclasses.asdict(probe(media.audio_only))
    assert "title" not in facts["tags"]
    # A title only the saved facts know: it reaches the MP3 only if convert used them.
    facts["tags"]["title"] = "Known from the saved facts"
    run_worker(pipeline_settings)
    job_id = submit(media.audio_only, media=facts, duration=facts["duration"])
    job = h.wait_for(job_id, "done", "failed")
    assert job.state == "done", job.reason
    assert job.media == facts
    mp3 = tmp_path / "out.mp3"
    mp3.write_bytes(b"".join(store.open_range("mp3s", job_id)))
    assert probe(mp3).tags.get("title") == "Known from the saved facts"


def test_a_missing_mp3_fails_the_store_step_and_retry_converts_again(
    pipeline_settings, run_worker, submit, store, media, h, sessions
):
    from actors import enqueue_pipeline

    run_worker(pipeline_settings)
    job_id = submit(media.audio_only, enqueue=False)
    with sessions_scope(h) as session:  # as if the MP3 vanished between convert and store
        session.execute(
            update(Job).where(Job.id == job_id).values(state="storing", mp3_blob_id=job_id)
        )
    enqueue_pipeline(job_id, Step.STORE)
    job = h.wait_for(job_id, "failed", "done")
    assert (job.failed_step, job.mp3_blob_id) == ("store", None)
    assert job.reason == "The converted MP3 is missing from storage; retry the job."

    with sessions_scope(h) as session:
        step = retry_job(session, session.get(Job, job_id))
    assert step is Step.CONVERT
    enqueue_pipeline(job_id, step)
    assert h.wait_for(job_id, "done", "failed").state == "done"
    assert has_blob(store, "mp3s", job_id)
