"""Instant repeats through the real pipeline: the same upload again is done in its 202 answer."""

from __future__ import annotations

from sqlalchemy import func, select

from blobs import has_blob
from core.db import session_scope
from core.models import JobEvent
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
