"""The embedded mode's shape: stub broker, SQLite, a local blob folder and an outbox folder."""

from __future__ import annotations

from alembic import command
from sqlalchemy import update

from core.db import make_engine, make_sessions, session_scope
from core.models import Job
from testservices import alembic_config


def test_embedded_worker_on_sqlite_and_local_folders(settings, tmp_path, media, submit_factory):
    data = tmp_path / "var"
    database_url = f"sqlite:///{data / 'vid2mp3.db'}"
    data.mkdir(parents=True)
    command.upgrade(alembic_config(database_url), "head")
    embedded = settings.replace(
        database_url=database_url,
        storage_url=f"file://{data / 'blobs'}",
        smtp_url=f"file://{data / 'outbox'}",
        broker_url="stub://",
    )
    import dramatiq

    from actors.embedded import start_embedded_worker

    # As `vid2mp3 run` does: the worker sets the broker up, the web app enqueues on it.
    handle = start_embedded_worker(embedded)
    engine = make_engine(database_url)
    try:
        assert dramatiq.get_broker() is handle.broker
        sessions = make_sessions(engine)
        submit, wait_for = submit_factory(embedded, sessions)
        job_id = submit(media.video)
        job = wait_for(job_id)
        assert job.state == "done", job.reason
        assert (data / "outbox" / f"{job_id}.eml").exists()
        assert (data / "blobs").exists()

        # The process stops with jobs in flight: one queued (its message only in memory), one
        # caught mid-conversion. The next start resumes both at once.
        handle.stop()
        queued = submit(media.audio_only, enqueue=False)
        converting = submit(media.audio_only, enqueue=False)
        with session_scope(sessions) as session:
            session.execute(
                update(Job).where(Job.id == converting).values(state="converting", attempts=1)
            )
        handle = start_embedded_worker(embedded)
        assert wait_for(queued).state == "done"
        assert wait_for(converting).state == "done"
    finally:
        handle.stop()
        engine.dispose()
