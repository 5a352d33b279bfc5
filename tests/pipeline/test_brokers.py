"""The same pipeline over the real brokers: RabbitMQ (production) and Redis (dashboard)."""

from __future__ import annotations

import contextlib

import pytest

from blobs import blobs_of
from core.states import Step


@pytest.fixture(params=["rabbitmq", "redis"])
def broker_settings(request, pipeline_settings, delete_queues):
    """Pipeline settings on a real broker; the test's private queues are deleted afterwards."""
    url = request.getfixturevalue(f"{request.param}_url")
    settings = pipeline_settings.replace(broker_url=url)
    yield settings
    names = [settings.video_queue, settings.mp3_queue]
    with contextlib.suppress(Exception):
        delete_queues[request.param](url, names)


def test_pipeline_over_a_real_broker(
    broker_settings, run_worker, submit, store, media, h, mailbox, work_root, tally
):
    from actors import enqueue_pipeline

    counted = tally(run_worker(broker_settings, threads=2))
    good = submit(media.video)
    bad = submit(media.no_audio)
    enqueue_pipeline(good)  # the same messages twice

    job = h.wait_for(good, "done", "failed")
    assert job.state == "done", job.reason
    failed = h.wait_for(bad, "failed", "done")
    assert failed.state == "failed" and failed.reason == "The file has no audio track."

    # Redelivery of every step after the fact changes nothing.
    for step in Step:
        enqueue_pipeline(good, step)
    # Only a step that advanced sent the next one: 3 converts, 2 stores, 2 notifies; the job
    # that failed in convert sent nothing further.
    expected = {"convert": 3, "store": 2, "notify": 2}
    h.wait_until(lambda: counted.counts(good) == expected, what="the duplicates to be consumed")
    assert counted.counts(bad) == {"convert": 1, "store": 0, "notify": 0}
    assert blobs_of(store, "mp3s", good) == [good]
    assert len(mailbox[0].for_job(good)) == 1
    assert mailbox[0].for_job(bad) == []
    assert h.files_under(work_root) == []


def test_queues_split_between_converter_and_notifier_groups(
    broker_settings, run_worker, submit, media, h, mailbox
):
    # Two worker groups as in production: converters on "video", notifiers on "mp3". Here
    # they share a process (Dramatiq allows one Worker per process, so the notifier group is
    # started after the conversion is done and the converter group only has "video").
    converter = run_worker(broker_settings, queues=["video"])
    job_id = submit(media.audio_only)
    job = h.wait_for(job_id, "notifying", "done", "failed")
    assert job.state == "notifying", "no notifier consumes the mp3 queue yet"
    converter.stop()
    run_worker(broker_settings, queues=["mp3"])
    assert h.wait_for(job_id, "done", "failed").state == "done"
    assert len(mailbox[0].for_job(job_id)) == 1
