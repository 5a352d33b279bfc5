"""Fixtures for the pipeline tests: media, an SMTP server, workers, and job helpers.

Every test gets its own queue names (so tests sharing RabbitMQ or Redis never see each other's
messages), its own blob database (the `settings` fixture) and its own temp root for work
folders. Jobs live in a MariaDB database of the test process's own, emptied before each test:
a worker's dispatcher and sweeper take up every unsent, owed or stuck job of its database, so on
the run's shared database they would take other tests' jobs and e-mails (tests in one process
run one after another, so no two tests' workers meet).
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import falcon.testing
import pytest
from dramatiq.middleware import Middleware

from conversion.ffmpeg import ffmpeg_exe
from core.db import make_engine, make_sessions, session_scope
from core.models import Base, Job, utcnow
from core.settings import Settings
from core.storage import open_store
from core.tokens import token_service
from media import claim_duration, make_clip
from smtpbox import Mailbox, running_mailbox
from testservices import create_mysql_database, delete_rabbitmq_queues, drop_mysql_database
from web.app import create_app

FFMPEG = ffmpeg_exe()


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _video_args(seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={seconds}"]


def _sine_args(seconds: float, rate: int = 44100) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}"]


class Media:
    """Test inputs made on first use with ffmpeg's lavfi sources, cached per test session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()  # makers may use other media (truncated uses video)

    def __getattr__(self, name: str) -> Path:
        if name.startswith("_"):
            raise AttributeError(name)
        maker = getattr(type(self), "_make_" + name)
        with self._lock:
            done = self.root / f".{name}.done"
            if not done.exists():
                path = maker(self)
                done.write_text(str(path))
            return Path(done.read_text())

    def _make_video(self) -> Path:
        path = self.root / "clip.mp4"
        _ffmpeg(
            *_video_args(3), *_sine_args(3), "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(path)
        )
        return path

    def _make_audio_only(self) -> Path:
        path = self.root / "voice.m4a"
        _ffmpeg(*_sine_args(2), "-c:a", "aac", str(path))
        return path

    def _make_no_audio(self) -> Path:
        path = self.root / "silent-film.mp4"
        _ffmpeg(*_video_args(2), "-c:v", "mpeg4", str(path))
        return path

    def _make_empty(self) -> Path:
        path = self.root / "empty.mp4"
        path.write_bytes(b"")
        return path

    def _make_text(self) -> Path:
        path = self.root / "notes.mp4"
        path.write_text("This is a shopping list, not a video.\n" * 20)
        return path

    def _make_truncated(self) -> Path:
        whole = self.video
        path = self.root / "truncated.mp4"
        data = whole.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    def _make_lying(self) -> Path:
        # A Matroska file named .mp4: the extension lies, the content is fine.
        source = self.root / "lying.mkv"
        _ffmpeg(
            *_video_args(2),
            *_sine_args(2),
            "-c:v",
            "mpeg4",
            "-c:a",
            "libvorbis",
            "-shortest",
            str(source),
        )
        path = self.root / "lying.mp4"
        source.rename(path)
        return path

    def _make_claims_ten_hours(self) -> Path:
        # Two seconds of video and audio in a Matroska file that states it lasts ten hours.
        return claim_duration(make_clip(self.root / "ten-hours.mkv", 2.0), 10 * 3600)

    def _make_long_silence(self) -> Path:
        path = self.root / "long-silence.m4a"
        _ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "30",
            "-c:a",
            "aac",
            "-b:a",
            "16k",
            str(path),
        )
        return path

    def _make_long(self) -> Path:
        # Long enough that converting it takes a few seconds: the SIGKILL and cancel tests
        # need a conversion that is still running when they strike.
        path = self.root / "long.mp3"
        _ffmpeg(
            *_sine_args(1200, 22050), "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", str(path)
        )
        return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Media:
    return Media(tmp_path_factory.mktemp("pipeline-media"))


@pytest.fixture(scope="session")
def pipeline_database() -> Iterator[tuple[str, object]]:
    """Return (URL, session factory) of this test process's pipeline database (see above)."""
    url = create_mysql_database()
    engine = make_engine(url)
    try:
        yield url, make_sessions(engine)
    finally:
        engine.dispose()
        drop_mysql_database(url)


@pytest.fixture(autouse=True)
def _empty_pipeline_database(pipeline_database) -> None:
    _, sessions = pipeline_database
    with session_scope(sessions) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


@pytest.fixture
def sessions(pipeline_database):
    """Return the session factory on the pipeline database."""
    return pipeline_database[1]


@pytest.fixture
def settings(settings: Settings, pipeline_database) -> Settings:
    """The run's settings (see tests/conftest.py) on the pipeline database."""
    url, _ = pipeline_database
    return settings.replace(database_url=url)


@pytest.fixture
def job_id(sessions, make_user) -> str:
    """A queued job of a new user, with no video stored: for the lease and timeline tests."""
    user = make_user()
    job_id = uuid.uuid4().hex
    with session_scope(sessions) as session:
        session.add(
            Job(id=job_id, user_id=user.id, original_filename="a.mp4", video_blob_id=job_id)
        )
    return job_id


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """Run a real SMTP server on a free port; yield (mailbox, port)."""
    with running_mailbox() as running:
        yield running


@pytest.fixture
def pipeline_settings(settings: Settings, mailbox) -> Settings:
    """Settings for fast pipelines: short backoff, few retries, private queues, real SMTP."""
    _, port = mailbox
    tag = uuid.uuid4().hex[:10]
    return settings.replace(
        smtp_url=f"smtp://127.0.0.1:{port}",
        video_queue=f"t-video-{tag}",
        mp3_queue=f"t-mp3-{tag}",
        retry_max=2,
        retry_min_backoff_ms=50,
        retry_max_backoff_ms=500,
        stuck_job_seconds=10,
    )


@pytest.fixture
def store(pipeline_settings):
    store = open_store(pipeline_settings.storage_url)
    yield store
    store.close()


@pytest.fixture
def web(pipeline_settings, sessions, store, make_user):
    """Return (client, auth headers) of the web app whose uploads go to the pipeline."""
    from actors import enqueue_pipeline  # the broker is set up by the worker fixtures first

    tokens = token_service(pipeline_settings)
    app = create_app(
        pipeline_settings,
        sessions,
        store,
        tokens,
        enqueue=lambda job_id, step: enqueue_pipeline(job_id, step),
    )
    token, _ = tokens.issue(str(make_user().id))
    return falcon.testing.TestClient(app), {"Authorization": f"Bearer {token}"}


@pytest.fixture
def work_root(tmp_path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def run_worker(work_root) -> Iterator[Callable]:
    """Start an in-process Dramatiq worker on the given settings; stopped after the test."""
    from actors.embedded import start_embedded_worker

    started = []

    def start(settings: Settings, **kw):
        # resume=False: a test sets up by hand what a restarted worker would find.
        handle = start_embedded_worker(settings, work_root=work_root, resume=False, **kw)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop(timeout_ms=10_000)


def _submit(sessions, store, user_id: int, path: Path, enqueue: bool = True, **fields) -> str:
    """Create a job the way the upload does: video blob, committed row, then enqueue."""
    from actors import enqueue_pipeline

    job_id = uuid.uuid4().hex
    with path.open("rb") as f:
        info = store.put("videos", job_id, f, filename=path.name, metadata={"user_id": user_id})
    with session_scope(sessions) as session:
        session.add(
            Job(
                id=job_id,
                user_id=user_id,
                original_filename=path.name,
                video_blob_id=job_id,
                video_size=info.size,
                options=fields.pop("options", {}),
                # Published below (or held back on purpose): no dispatcher sends it.
                enqueued_at=utcnow(),
                **fields,
            )
        )
    if enqueue:
        enqueue_pipeline(job_id)
    return job_id


@pytest.fixture
def submit(sessions, store, make_user) -> Callable[..., str]:
    """Return submit(path, *, user=None, enqueue=True, **job_fields) -> job id."""

    def submit(path: Path, *, user=None, enqueue: bool = True, **fields) -> str:
        user = user or make_user()
        return _submit(sessions, store, user.id, path, enqueue, **fields)

    return submit


@pytest.fixture
def submit_factory() -> Iterator[Callable]:
    """Return factory(settings, sessions) -> (submit, wait_done) for a database of one's own."""
    from core.accounts import create_user

    stores = []

    def factory(settings: Settings, sessions):
        store = open_store(settings.storage_url)
        stores.append(store)
        with session_scope(sessions) as session:
            user = create_user(session, f"u-{uuid.uuid4().hex[:8]}@example.com", "pass word 1234")
            session.flush()
            user_id = user.id

        def submit(path: Path, **fields) -> str:
            return _submit(sessions, store, user_id, path, **fields)

        def wait_done(job_id: str, timeout: float = 60.0) -> Job:
            return wait_for(sessions, job_id, "done", "failed", timeout=timeout)

        return submit, wait_done

    yield factory
    for store in stores:
        store.close()


def load(sessions, job_id: str) -> Job:
    with sessions() as session:
        job = session.get(Job, job_id)
        session.expunge(job)
        return job


def wait_for(sessions, job_id: str, *states: str, timeout: float = 60.0) -> Job:
    """Poll the job row until it reaches one of `states`; fail with its last state otherwise."""
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = load(sessions, job_id)
        if job.state in states:
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} stayed {job.state if job else '?'} (reason: {job and job.reason})")


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def ffmpeg_processes(marker: str) -> list[int]:
    """Return the pids of live (non-zombie) processes whose command line contains `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() not in (entry / "cmdline").read_bytes():
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(entry.name))
    return pids


def zombie_children() -> list[int]:
    """Return this process' zombie children (reaped processes never show up here)."""
    zombies = []
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z" and fields[1] == me:
                zombies.append(int(entry.name))
    return zombies


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _delete_redis_queues(url: str, names: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        for name in names:
            for key in client.scan_iter(f"dramatiq:{name}*"):
                client.delete(key)
    finally:
        client.close()


@pytest.fixture
def delete_queues() -> dict[str, Callable[[str, list[str]], None]]:
    """Return the functions that delete a test's private queues, by broker."""
    return {"rabbitmq": delete_rabbitmq_queues, "redis": _delete_redis_queues}


class Tally(Middleware):
    """Count the messages each actor finished without an error, per job id."""

    def __init__(self) -> None:
        self.done: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None:
            with self._lock:
                self.done[(message.actor_name, message.args[0])] += 1

    def counts(self, job_id: str) -> dict[str, int]:
        with self._lock:
            return {a: self.done[(a, job_id)] for a in ("convert", "store", "notify")}


@pytest.fixture
def tally() -> Callable:
    """Return `attach(worker_handle) -> Tally`, counting what the worker finished."""

    def attach(handle) -> Tally:
        counter = Tally()
        handle.broker.add_middleware(counter)
        return counter

    return attach


class Helpers:
    """The helpers above, bound to the run's database (test modules cannot import conftest)."""

    def __init__(self, sessions) -> None:
        self.sessions = sessions
        self.wait_until = wait_until
        self.ffmpeg_processes = ffmpeg_processes
        self.zombie_children = zombie_children
        self.files_under = files_under

    def load(self, job_id: str) -> Job:
        return load(self.sessions, job_id)

    def wait_for(self, job_id: str, *states: str, timeout: float = 60.0) -> Job:
        return wait_for(self.sessions, job_id, *states, timeout=timeout)


@pytest.fixture
def h(sessions) -> Helpers:
    return Helpers(sessions)
