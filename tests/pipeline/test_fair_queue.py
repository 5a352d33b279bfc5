"""Fair sharing: one user's backlog delays another user's single job by at most one conversion.

The whole path runs: uploads over HTTP to the app `vid2mp3 run` builds, a database of the test's
own (SQLite; the fair order counts every job in the database), the stub broker and one worker
thread, i.e. one conversion slot. The order is read from the job rows' `started_at`, never
from the clock.
"""

from __future__ import annotations

import datetime as dt

import dramatiq
import falcon.testing
import pytest
from alembic import command

from core.accounts import create_user
from core.db import make_engine, make_sessions, session_scope
from core.models import Job, utcnow
from forms import upload
from testservices import TEST_PASSWORD, alembic_config

BACKLOG = 24


@pytest.fixture
def own_database(settings, tmp_path):
    """Settings on a SQLite database of the test's own, migrated, and its session factory."""
    url = f"sqlite:///{tmp_path / 'fair.db'}"
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    yield (
        settings.replace(database_url=url, storage_url=f"file://{tmp_path / 'blobs'}"),
        (make_sessions(engine)),
    )
    engine.dispose()


def _login(client, sessions, email: str) -> dict:
    with session_scope(sessions) as session:
        create_user(session, email, TEST_PASSWORD)
    answer = client.simulate_post("/login", json={"email": email, "password": TEST_PASSWORD})
    return {"Authorization": f"Bearer {answer.json['access_token']}"}


def _submit(client, auth, path) -> str:
    answer = upload(client, auth, [("file", path.name, path.read_bytes())])
    assert answer.status_code == 202, answer.text
    return answer.json["id"]


def test_a_single_job_waits_behind_at_most_one_job_of_a_long_backlog(
    own_database, media, work_root, submit_factory
):
    from actors.broker import setup_broker
    from actors.runtime import Runtime
    from vid2mp3.wiring import build_web_app

    settings, sessions = own_database
    _, wait_done = submit_factory(settings, sessions)
    runtime = Runtime(settings, work_root=work_root)
    broker = setup_broker(settings, runtime)
    broker.emit_after("process_boot")
    client = falcon.testing.TestClient(build_web_app(settings, broker=broker))
    alice = _login(client, sessions, "alice@example.com")
    bob = _login(client, sessions, "bob@example.com")

    backlog = [_submit(client, alice, media.audio_only) for _ in range(BACKLOG)]
    single = _submit(client, bob, media.audio_only)

    # Before any worker runs: nothing is released; Alice's turn comes first, then Bob's.
    waiting = client.simulate_get(f"/jobs/{single}", headers=bob).json
    assert waiting["state"] == "queued" and waiting["queue_position"] == 1
    last = client.simulate_get(f"/jobs/{backlog[-1]}", headers=alice).json
    assert last["queue_position"] == BACKLOG
    listed = client.simulate_get("/jobs", params={"limit": 3}, headers=alice).json["items"]
    assert [job["queue_position"] for job in listed] == [BACKLOG, BACKLOG - 1, BACKLOG - 2]

    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        for job_id in [single, *backlog]:
            assert wait_done(job_id).state == "done"
    finally:
        worker.stop(timeout=10_000)
        broker.close()
        runtime.close()

    with session_scope(sessions) as session:
        rows = {job.id: job for job in session.query(Job)}
        order = sorted(rows, key=lambda job_id: rows[job_id].started_at)
    # Bob's job started after at most one of Alice's that was submitted before it...
    assert order.index(single) <= 1, [rows[job_id].user_id for job_id in order]
    # ...and Alice's jobs kept their own order.
    assert [job_id for job_id in order if job_id != single] == backlog


def _job(session, user_id: int, **values) -> Job:
    values.setdefault("video_size", 1000)
    job = Job(user_id=user_id, original_filename="a.mp4", **values)
    session.add(job)
    session.flush()
    return job


def _users(session, *names: str) -> list[int]:
    users = [create_user(session, f"{name}@example.com", TEST_PASSWORD) for name in names]
    session.flush()
    return [user.id for user in users]


def _worker(session, settings, threads: int) -> None:
    """Register a live worker that consumes the video queue with `threads` threads."""
    from core.models import WorkerProcess

    queues = f"{settings.video_queue},{settings.mp3_queue}"
    session.add(WorkerProcess(id=f"w{threads}", host="h", pid=1, queues=queues, threads=threads))


def test_release_sends_each_users_oldest_jobs_up_to_the_limit(own_database):
    from core import fairqueue

    settings, sessions = own_database
    settings = settings.replace(user_convert_limit=2)
    with session_scope(sessions) as session:
        alice, bob = _users(session, "alice", "bob")
        _worker(session, settings, threads=4)
        start = utcnow()
        backlog = [
            _job(session, alice, created_at=start + dt.timedelta(seconds=i)).id for i in range(5)
        ]
        single = _job(session, bob, created_at=start + dt.timedelta(seconds=9)).id
    sent = []
    assert fairqueue.any_held(sessions)

    released = fairqueue.release(sessions, settings, lambda job_id, step: sent.append(job_id))

    assert released == [backlog[0], single, backlog[1]] and sent == released
    assert fairqueue.release(sessions, settings, sent.append) == []
    with session_scope(sessions) as session:
        assert session.get(Job, backlog[0]).enqueued_at is not None
        # A conversion that ends frees one place of its user.
        session.get(Job, backlog[0]).state = "storing"
    assert fairqueue.release(sessions, settings, lambda job_id, step: None) == [backlog[2]]

    def broker_away(job_id, step):
        raise ConnectionError("broker away")

    with session_scope(sessions) as session:
        session.get(Job, backlog[1]).state = "storing"
    with pytest.raises(ConnectionError):
        fairqueue.release(sessions, settings, broker_away)
    with session_scope(sessions) as session:
        # Held again, so the dispatcher sends it once the broker is back.
        assert session.get(Job, backlog[3]).enqueued_at is None
    assert fairqueue.any_held(sessions)
    with session_scope(sessions) as session:
        for job_id in backlog[3:]:
            session.get(Job, job_id).state = "cancelled"
    # Nothing waits any more: the workers' question before a release says so.
    assert not fairqueue.any_held(sessions)


def test_estimates_follow_the_fair_order_and_the_measured_speed(own_database):
    from core.estimates import QueueSnapshot

    settings, sessions = own_database
    now = utcnow()
    with session_scope(sessions) as session:
        alice, bob, carol = _users(session, "alice", "bob", "carol")
        _worker(session, settings, threads=2)
        # History: a slot is held 1 s + 0.5 s per media second.
        for seconds in (2, 4, 6, 8):
            began = now - dt.timedelta(minutes=10)
            _job(
                session,
                carol,
                state="done",
                duration=seconds,
                video_size=1000 * seconds,
                started_at=began,
                stored_at=began + dt.timedelta(seconds=1 + 0.5 * seconds),
                finished_at=began + dt.timedelta(seconds=2 + 0.5 * seconds),
            )
        # Running, half done: 3 s left of its 6 s. Released and waiting: 3 s.
        _job(session, carol, state="converting", duration=10, progress=50.0, started_at=now)
        released = _job(session, carol, duration=4, enqueued_at=now)
        # Held: Alice's three jobs (2 s each: 2 media seconds by size), then Bob's one (4 s).
        held_a = [
            _job(session, alice, video_size=2000, created_at=now + dt.timedelta(seconds=i))
            for i in range(3)
        ]
        held_b = _job(session, bob, duration=6, created_at=now + dt.timedelta(seconds=5))
        queue = QueueSnapshot.load(session, settings)
        estimates = {job.id: queue.estimate(job) for job in [released, *held_a, held_b]}

    def seconds(job, key):
        return (estimates[job.id][key] - queue.now).total_seconds()

    positions = [estimates[job.id]["queue_position"] for job in [released, *held_a, held_b]]
    # Alice's turn comes first (her oldest job is older), then Bob's, then Alice's again.
    assert positions == [0, 1, 3, 4, 2]
    assert seconds(released, "estimated_start_at") == pytest.approx(0)
    assert seconds(held_a[0], "estimated_start_at") == pytest.approx(3)
    assert seconds(held_a[0], "estimated_finish_at") == pytest.approx(3 + 2)
    assert seconds(held_b, "estimated_finish_at") == pytest.approx(3 + 4)
    # Behind the released job, Alice's first and Bob's: the slots free at 3, 3, 5 and 7 s.
    assert seconds(held_a[1], "estimated_start_at") == pytest.approx(5)
