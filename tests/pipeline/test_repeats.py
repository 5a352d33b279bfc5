"""Instant repeats: the same upload again is done in its 202 answer and shares the MP3 safely.

Through the real pipeline, then the locking between making a repeat and deleting its source on
MariaDB.
"""

from __future__ import annotations

import io
import threading
import uuid

from sqlalchemy import func, select

from blobs import has_blob
from conversion.options import ConversionOptions
from core import jobs, repeats
from core.db import session_scope
from core.models import Job, JobEvent, new_job_id, utcnow
from core.tokens import token_service
from forms import upload


def _upload(client, auth, data: bytes, *fields: tuple[str, bytes]):
    parts = [(name, None, value) for name, value in fields] + [("file", "clip.mp4", data)]
    result = upload(client, auth, parts)
    assert result.status_code == 202, result.text
    return result.json


def _steps_run(sessions, job_id: str) -> int:
    """Count the step attempts the worker's timeline recorded for the job."""
    with session_scope(sessions) as session:
        return session.scalar(select(func.count()).where(JobEvent.job_id == job_id))


def _mp3(client, auth, job_id: str) -> bytes:
    result = client.simulate_get(f"/jobs/{job_id}/mp3", headers=auth)
    assert result.status_code == 200, result.text
    return result.content


def test_a_repeat_is_done_at_once_and_survives_either_delete(
    web, pipeline_settings, run_worker, store, media, h, sessions
):
    client, auth = web
    run_worker(pipeline_settings)
    data = media.video.read_bytes()
    first = _upload(client, auth, data, ("bitrate", b"96"))
    assert h.wait_for(first["id"], "done", "failed").state == "done"
    original = _mp3(client, auth, first["id"])

    second = _upload(client, auth, data, ("bitrate", b"96"))
    third = _upload(client, auth, data, ("bitrate", b"96"))

    assert (second["state"], third["state"]) == ("done", "done")
    assert second["links"]["mp3"] == f"/jobs/{second['id']}/mp3"
    assert second["mp3_size"] == len(original)
    assert _mp3(client, auth, second["id"]) == original
    assert _steps_run(sessions, first["id"]) >= 3
    assert _steps_run(sessions, second["id"]) == 0  # no step ever ran
    assert not has_blob(store, "videos", second["id"])  # the video is not kept
    waveform = client.simulate_get(f"/jobs/{second['id']}/waveform", headers=auth)
    assert waveform.status_code == 200, waveform.text

    # Deleting the job that converted the MP3 leaves the repeats downloadable ...
    assert client.simulate_delete(f"/jobs/{first['id']}", headers=auth).status_code == 200
    assert _mp3(client, auth, second["id"]) == original
    legacy = client.simulate_get("/download", params={"fid": first["id"]}, headers=auth)
    assert legacy.status_code == 200 and legacy.content == original
    # ... and so does deleting a repeat; the last one to go takes the MP3 with it.
    assert client.simulate_delete(f"/jobs/{second['id']}", headers=auth).status_code == 200
    assert _mp3(client, auth, third["id"]) == original
    assert has_blob(store, "mp3s", first["id"])
    assert client.simulate_delete(f"/jobs/{third['id']}", headers=auth).status_code == 200
    assert not has_blob(store, "mp3s", first["id"])
    assert not has_blob(store, "mp3s", f"{first['id']}-waveform")


def test_other_options_or_another_user_convert_again(
    web, pipeline_settings, run_worker, media, h, make_user, sessions
):
    client, auth = web
    run_worker(pipeline_settings)
    data = media.video.read_bytes()
    first = _upload(client, auth, data)
    assert h.wait_for(first["id"], "done", "failed").state == "done"

    other_options = _upload(client, auth, data, ("bitrate", b"64"))
    other_content = _upload(client, auth, data + b"\0")
    token, _ = token_service(pipeline_settings).issue(str(make_user().id))
    other_user = _upload(client, {"Authorization": f"Bearer {token}"}, data)

    assert other_options["state"] == other_content["state"] == other_user["state"] == "queued"
    for job in (other_options, other_content, other_user):
        assert h.wait_for(job["id"], "done", "failed").state == "done"
        assert _steps_run(sessions, job["id"]) >= 3
    assert _mp3(client, auth, other_options["id"]) != _mp3(client, auth, first["id"])


def _done_job(sessions, store, user_id: int, content_sha256: str) -> str:
    """Commit a done job with a stored MP3 whose upload had `content_sha256`."""
    job_id = new_job_id()
    store.put("mp3s", job_id, io.BytesIO(b"ID3 an mp3"), filename="a.mp3", content_type=None)
    with session_scope(sessions) as session:
        session.add(
            Job(
                id=job_id,
                user_id=user_id,
                state="done",
                original_filename="a.mp4",
                video_sha256=content_sha256,
                mp3_blob_id=job_id,
                stored_at=utcnow(),
                options=ConversionOptions().to_dict(),
            )
        )
    return job_id


def test_deleting_the_source_waits_for_a_repeat_being_made(sessions, store, make_user):
    user_id, content = make_user().id, uuid.uuid4().hex * 2
    source_id = _done_job(sessions, store, user_id, content)
    making = sessions()
    source = repeats.find_source(making, user_id, content, ConversionOptions())  # locks it
    repeat = Job(id=new_job_id(), user_id=user_id, original_filename="a.mp4")
    repeats.finish_as_repeat(repeat, source)
    making.add(repeat)
    making.flush()
    deleted = threading.Event()

    def delete_source():
        with sessions() as session:
            jobs.cancel_job(session, store, session.get(Job, source_id))
        deleted.set()

    deleting = threading.Thread(target=delete_source)
    deleting.start()
    assert not deleted.wait(1.0)  # held by the row lock until the repeat is committed
    making.commit()
    making.close()
    deleting.join(timeout=60)

    assert deleted.is_set()
    assert has_blob(store, "mp3s", source_id)  # the repeat still points at it
    with session_scope(sessions) as session:
        assert session.get(Job, repeat.id).mp3_blob_id == source_id
        assert session.get(Job, source_id).mp3_blob_id is None


def test_a_deleted_source_is_no_source(sessions, store, make_user):
    user_id, content = make_user().id, uuid.uuid4().hex * 2
    source_id = _done_job(sessions, store, user_id, content)
    with sessions() as session:
        jobs.cancel_job(session, store, session.get(Job, source_id))

    with sessions() as session:
        assert repeats.find_source(session, user_id, content, ConversionOptions()) is None
    assert not has_blob(store, "mp3s", source_id)
