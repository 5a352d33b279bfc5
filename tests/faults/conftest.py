"""Fixtures for fault tests: a real `vid2mp3 serve`, a pipeline of one's own, fault proxies."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pytest

from core.settings import Settings
from faultproxy import FaultProxy
from media import make_clip
from smtpbox import running_mailbox
from testservices import (
    TEST_PASSWORD,
    TEST_SECRET,
    create_mysql_database,
    delete_rabbitmq_queues,
    drop_mysql_database,
)


@pytest.fixture
def fault_proxies():
    """Return proxy(host, port) -> a FaultProxy, all restored and closed after the test."""
    proxies = []

    def proxy(host: str, port: int) -> FaultProxy:
        proxies.append(FaultProxy(host, port))
        return proxies[-1]

    yield proxy
    for each in proxies:
        each.close()


def _through(url: str, port: int) -> str:
    """Return `url` pointed at 127.0.0.1:`port` (a proxy), keeping its user and path."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{user}@" * bool(user) + f"127.0.0.1:{port}").geturl()


class Rig:
    """A whole pipeline of one's own behind fault proxies: a private database, private queues,
    a private blob database, an aiosmtpd mailbox, in-process workers and real web servers.

    Every backing service is reached through a FaultProxy (`db`, `broker`, `smtp`), except by
    the test itself, which reads the database directly (`sessions`).
    """

    def __init__(self, tmp_path, database_url, mongo_uri, rabbitmq_url, proxy, mailbox) -> None:
        from core.accounts import create_user
        from core.db import make_engine, make_sessions

        self.tmp_path = tmp_path
        self.mailbox, smtp_port = mailbox
        db, amqp = urlsplit(database_url), urlsplit(rabbitmq_url)
        self.db = proxy(db.hostname, db.port or 3306)
        self.broker = proxy(amqp.hostname, amqp.port or 5672)
        self.smtp = proxy("127.0.0.1", smtp_port)
        tag = uuid.uuid4().hex[:10]
        self.env = {
            "DATA_DIR": str(tmp_path / "var"),
            "DATABASE_URL": _through(database_url, self.db.port),
            "DATABASE_TIMEOUT": "3",
            "STORAGE_URL": f"{mongo_uri}/f_{tag}",
            "BROKER_URL": _through(rabbitmq_url, self.broker.port),
            "BROKER_TIMEOUT": "2",
            "SMTP_URL": f"smtp://127.0.0.1:{self.smtp.port}",
            "JWT_SECRET": TEST_SECRET,
            "PUBLIC_URL": "http://testserver",
            "VIDEO_QUEUE": f"f-video-{tag}",
            "MP3_QUEUE": f"f-mp3-{tag}",
            "RETRY_MAX": "5",
            "RETRY_MIN_BACKOFF_MS": "200",
            "RETRY_MAX_BACKOFF_MS": "2000",
            # The sweeper would only act after this: recovery faster than it is not its doing.
            "STUCK_JOB_SECONDS": "600",
        }
        self.settings = Settings.from_env(self.env)
        self.rabbitmq_url = rabbitmq_url
        self._engine = make_engine(database_url)
        self.sessions = make_sessions(self._engine)
        with self.sessions() as session:
            user = create_user(session, f"f-{tag}@example.com", TEST_PASSWORD)
            session.commit()
            session.expunge(user)
        self.user = user
        self.clip = make_clip(tmp_path / "clip.mp4", 1.0)
        self.workers: list = []

    def start_worker(self, **changes):
        """Start an in-process worker on the rig's settings (through the proxies)."""
        from actors.embedded import start_embedded_worker

        settings = self.settings.replace(**changes)
        handle = start_embedded_worker(settings, work_root=self.tmp_path / "work", resume=False)
        self.workers.append(handle)
        return handle

    def submit(self, count: int) -> list[str]:
        """Create `count` jobs as the upload does (blob, committed row), and publish them."""
        from actors import enqueue_pipeline
        from core.models import Job
        from core.storage import open_store

        store = open_store(self.settings.storage_url)
        ids = []
        try:
            for _ in range(count):
                job_id = uuid.uuid4().hex
                with self.clip.open("rb") as f:
                    info = store.put("videos", job_id, f, filename="clip.mp4", metadata={})
                with self.sessions() as session:
                    session.add(
                        Job(
                            id=job_id,
                            user_id=self.user.id,
                            original_filename="clip.mp4",
                            video_blob_id=job_id,
                            video_size=info.size,
                            options={},
                        )
                    )
                    session.commit()
                enqueue_pipeline(job_id)
                ids.append(job_id)
        finally:
            store.close()
        return ids

    def jobs(self, ids) -> dict:
        """Return {job id: Job} as the database has them now."""
        from core.models import Job

        with self.sessions() as session:
            found = session.query(Job).filter(Job.id.in_(list(ids))).all()
            for job in found:
                session.expunge(job)
        return {job.id: job for job in found}

    def wait(self, predicate, timeout: float, what: str) -> float:
        """Poll `predicate` until true; return the seconds it took, fail after `timeout`."""
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                pytest.fail(f"not within {timeout:g} s: {what}")
            time.sleep(0.2)
        return time.monotonic() - start

    def assert_done_once(self, ids, what: str, timeout: float = 60) -> None:
        """Wait until every job is done, then check one MP3 and one e-mail each.

        The same clip uploaded again after a copy was done is an instant repeat that shares that
        copy's MP3, so each job's MP3 is looked up by the blob its row names.
        """
        from blobs import blobs_of
        from core.storage import open_store

        self.wait(lambda: all(job.state == "done" for job in self.jobs(ids).values()), 60, what)
        self.wait(lambda: all(self.mailbox.for_job(i) for i in ids), 30, "every e-mail")
        store = open_store(self.settings.storage_url)
        try:
            for job_id, job in self.jobs(ids).items():
                assert len(blobs_of(store, "mp3s", job.mp3_blob_id)) == 1
                assert len(self.mailbox.for_job(job_id)) == 1
        finally:
            store.close()

    def close(self, delete_queues) -> None:
        for handle in self.workers:
            handle.stop(timeout_ms=10_000)
        self._engine.dispose()
        delete_queues(self.rabbitmq_url, [self.settings.video_queue, self.settings.mp3_queue])


@pytest.fixture
def rig(tmp_path, mongo_uri, rabbitmq_url, fault_proxies):
    """Return a `Rig`: a pipeline of one's own behind fault proxies; torn down after the test."""
    database_url = create_mysql_database()
    with running_mailbox() as mailbox:
        rig = Rig(tmp_path, database_url, mongo_uri, rabbitmq_url, fault_proxies, mailbox)
        try:
            yield rig
        finally:
            rig.close(delete_rabbitmq_queues)
            drop_mysql_database(database_url)
