"""A real `dramatiq actors.worker:setup` worker group over RabbitMQ, killed with SIGKILL mid-job.

The whole group (main process, worker process, metrics process) dies at once, as when a pod or
machine is lost; its ffmpeg runs in a session of its own and is left behind. A second group on
the same machine gets the message redelivered by RabbitMQ, waits out the dead worker's lease,
reaps the orphan ffmpeg and work folder, and finishes the job: one MP3 blob, one e-mail, an
empty TMPDIR, no ffmpeg left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request

import pytest

from blobs import blobs_of
from testservices import free_port, wait_for_port


@pytest.fixture
def worker_group(pipeline_settings, rabbitmq_url, tmp_path, delete_queues):
    """Return start() -> Popen of a worker group; every group is killed after the test."""
    settings = pipeline_settings.replace(broker_url=rabbitmq_url)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    metrics_port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "STORAGE_URL": settings.storage_url,
        "BROKER_URL": rabbitmq_url,
        "SMTP_URL": settings.smtp_url,
        "JWT_SECRET": settings.jwt_secret,
        "PUBLIC_URL": settings.public_url,
        "VIDEO_QUEUE": settings.video_queue,
        "MP3_QUEUE": settings.mp3_queue,
        "STUCK_JOB_SECONDS": str(settings.stuck_job_seconds),
        "RETRY_MAX": "5",
        "RETRY_MIN_BACKOFF_MS": "100",
        "RETRY_MAX_BACKOFF_MS": "2000",
        "METRICS_PORT": str(metrics_port),
        "TMPDIR": str(tmpdir),
        "LOG_FORMAT": "json",
    }
    groups: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        from actors.worker import worker_argv

        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            worker_argv(settings, processes=1, threads=1),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can kill all of it
        )
        groups.append(proc)
        return proc

    start.settings = settings
    start.tmpdir = tmpdir
    start.metrics_port = metrics_port
    yield start
    for proc in groups:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    delete_queues["rabbitmq"](rabbitmq_url, [settings.video_queue, settings.mp3_queue])


def test_sigkill_mid_conversion_loses_nothing_and_repeats_nothing(
    worker_group, submit, store, media, h, mailbox
):
    from actors.broker import setup_broker

    setup_broker(worker_group.settings)  # this process only enqueues
    first = worker_group("first")
    job_id = submit(media.long, options={"bitrate": 64})
    h.wait_until(
        lambda: 5 < h.load(job_id).progress < 90, timeout=60, what="the conversion to be mid-way"
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    orphans = h.ffmpeg_processes(str(worker_group.tmpdir))
    assert orphans, "the killed worker's ffmpeg outlives it (its own session)"
    killed_at = h.load(job_id)
    assert killed_at.state == "converting"

    second = worker_group("second")
    job = h.wait_for(job_id, "done", "failed", timeout=90)
    assert job.state == "done", job.reason
    assert job.attempts == 0 and job.reason is None
    assert abs(job.mp3_duration - 1200) < 2

    assert blobs_of(store, "mp3s", job_id) == [job_id]
    assert len(mailbox[0].for_job(job_id)) == 1
    assert h.ffmpeg_processes(str(worker_group.tmpdir)) == []

    # The worker group serves its metrics on METRICS_PORT from one forked process.
    wait_for_port(worker_group.metrics_port)
    with urllib.request.urlopen(f"http://127.0.0.1:{worker_group.metrics_port}/") as response:
        text = response.read().decode()
    assert 'converter_jobs_total{result="converted"} 1.0' in text
    assert 'notifications_total{channel="email",result="sent"} 1.0' in text

    # A graceful stop leaves nothing in TMPDIR.
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)
    assert h.files_under(worker_group.tmpdir) == []


def test_sigterm_stops_ffmpeg_and_requeues_the_job(worker_group, submit, store, media, h, mailbox):
    from actors.broker import setup_broker

    setup_broker(worker_group.settings)
    first = worker_group("first")
    job_id = submit(media.long, options={"bitrate": 64})
    h.wait_until(
        lambda: 5 < h.load(job_id).progress < 90, timeout=60, what="the conversion to be mid-way"
    )
    first.send_signal(signal.SIGTERM)  # what Kubernetes does before it kills a pod
    assert first.wait(timeout=30) == 0
    # The conversion was interrupted, its ffmpeg killed and reaped, its folder removed, and the
    # job handed back to the queue with the reason visible.
    assert h.ffmpeg_processes(str(worker_group.tmpdir)) == []
    assert h.files_under(worker_group.tmpdir) == []
    job = h.load(job_id)
    assert job.state == "queued" and job.progress == 0
    assert job.reason == "Retrying after an error: The worker was stopped during the step."

    worker_group("second")
    job = h.wait_for(job_id, "done", "failed", timeout=90)
    assert job.state == "done", job.reason
    assert blobs_of(store, "mp3s", job_id) == [job_id]
    assert len(mailbox[0].for_job(job_id)) == 1
