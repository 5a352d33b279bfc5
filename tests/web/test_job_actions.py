"""Cancel/delete a job and retry a failed one over HTTP; quotas count only kept files."""

from __future__ import annotations

import io

from blobs import has_blob
from core.db import session_scope
from core.models import Job
from core.states import Step
from forms import upload


def add_job(sessions, services, user, **fields) -> Job:
    job = Job(user_id=user.id, original_filename="a.mp4", **fields)
    with session_scope(sessions) as session:
        session.add(job)
        session.flush()
        services.store.put(
            "videos", job.id, io.BytesIO(b"\x00" * 1000), filename="a.mp4", metadata={}
        )
        job.video_blob_id = job.id
        job.video_size = 1000
    return job


def test_delete_cancels_a_queued_job_and_removes_its_video(client, auth, user, sessions, services):
    job = add_job(sessions, services, user)
    result = client.simulate_delete(f"/jobs/{job.id}", headers=auth)
    assert result.status_code == 200, result.text
    assert result.json["state"] == "cancelled"
    assert not has_blob(services.store, "videos", job.id)
    again = client.simulate_delete(f"/jobs/{job.id}", headers=auth)
    assert again.status_code == 200


def test_another_users_job_cannot_be_deleted_or_retried(client, sessions, services, make_user):
    owner, stranger = make_user(), make_user()
    job = add_job(sessions, services, owner, state="failed", failed_step="convert")
    token, _ = services.tokens.issue(str(stranger.id))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.simulate_delete(f"/jobs/{job.id}", headers=headers).status_code == 404
    assert client.simulate_post(f"/jobs/{job.id}/retry", headers=headers).status_code == 404
    assert has_blob(services.store, "videos", job.id)


def test_retry_requeues_a_failed_job_from_its_failed_step(
    client, auth, user, sessions, services, enqueued
):
    job = add_job(sessions, services, user, state="failed", failed_step="convert", reason="x")
    result = client.simulate_post(f"/jobs/{job.id}/retry", headers=auth)
    assert result.status_code == 202, result.text
    assert result.json["state"] == "queued"
    assert result.json["reason"] is None
    assert enqueued == [(job.id, Step.CONVERT)]


def test_retrying_a_job_that_did_not_fail_is_409(client, auth, user, sessions, services, enqueued):
    job = add_job(sessions, services, user)
    result = client.simulate_post(f"/jobs/{job.id}/retry", headers=auth)
    assert result.status_code == 409
    assert "only a failed job" in result.json["detail"]
    assert enqueued == []


def test_deleting_frees_quota(make_client, auth, user, sessions, services, clip):
    data = clip.read_bytes()
    tight = make_client(services.settings.replace(user_quota_bytes=len(data) + 10))
    first = upload(tight, auth, [("file", "a.mp4", data)])
    assert first.status_code == 202
    assert upload(tight, auth, [("file", "b.mp4", data)]).status_code == 429
    assert tight.simulate_delete(f"/jobs/{first.json['id']}", headers=auth).status_code == 200
    assert upload(tight, auth, [("file", "c.mp4", data)]).status_code == 202
