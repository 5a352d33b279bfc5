"""Upload: streamed into the store, a queued job, and a precise error for every bad input."""

from __future__ import annotations

import os

import pytest

from blobs import stored_ids
from conversion.options import ConversionOptions
from core.db import session_scope
from core.models import Job
from core.states import Step
from forms import upload


def video_blobs(services):
    # The test's blob database is its own: every video in it is the test user's.
    return stored_ids(services.store, "videos")


def test_upload_stores_the_video_and_queues_a_job_after_commit(
    client, auth, user, clip, services, sessions, enqueued
):
    data = clip.read_bytes()
    result = upload(client, auth, [("file", "Konzert über alles.mp4", data)])
    assert result.status_code == 202, result.text
    job = result.json
    assert result.headers["location"] == f"/jobs/{job['id']}"
    assert job["state"] == "queued"
    assert job["filename"] == "Konzert über alles.mp4"
    assert job["video_size"] == len(data)
    assert enqueued == [(job["id"], Step.CONVERT)]
    info = services.store.info("videos", job["id"])
    assert info.size == len(data)
    with session_scope(sessions) as session:
        row = session.get(Job, job["id"])
        assert row.user_id == user.id
        assert row.options == ConversionOptions().to_dict()
    listed = client.simulate_get("/jobs", headers=auth).json
    assert [item["id"] for item in listed["items"]] == [job["id"]]


def test_conversion_options_are_validated_and_kept(client, auth, clip, sessions):
    parts = [
        ("bitrate", None, b"128"),
        ("channels", None, b"1"),
        ("file", "a.mp4", clip.read_bytes()),
    ]
    result = upload(client, auth, parts)
    assert result.status_code == 202, result.text
    assert result.json["options"]["bitrate"] == 128
    assert result.json["options"]["channels"] == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("bitrate", b"999"),
        ("sample_rate", b"abc"),
        ("colour", b"blue"),
        ("webhook_url", b"ftp://x"),
    ],
)
def test_bad_options_are_422_naming_the_field_and_keep_nothing(
    client, auth, user, clip, services, field, value
):
    result = upload(client, auth, [("file", "a.mp4", clip.read_bytes()), (field, None, value)])
    assert result.status_code == 422, result.text
    assert result.json["field"] == field
    assert field in result.json["detail"]
    assert video_blobs(services) == []


@pytest.mark.parametrize(
    "parts, status, detail",
    [
        ([("file", "empty.mp4", b"")], 400, "empty"),
        ([("file", "notes.mp4", b"just some text, not a video\n" * 50)], 415, "not a video"),
        ([("file", "random.mkv", os.urandom(8192))], 415, "not a video"),
        ([("other", None, b"x")], 400, "no field named file"),
    ],
)
def test_bad_files_get_precise_errors_and_leave_nothing(
    client, auth, user, services, parts, status, detail
):
    result = upload(client, auth, parts)
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/problem+json"
    assert detail in result.json["detail"]
    assert video_blobs(services) == []


def test_two_files_are_refused(client, auth, user, clip, services):
    data = clip.read_bytes()
    result = upload(client, auth, [("file", "a.mp4", data), ("file", "b.mp4", data)])
    assert result.status_code == 400
    assert video_blobs(services) == []


def test_malformed_multipart_is_400(client, auth):
    headers = {**auth, "Content-Type": "multipart/form-data; boundary=abc"}
    result = client.simulate_post("/upload", body=b"--abc\r\ngarbage without end", headers=headers)
    assert result.status_code == 400
    assert result.headers["content-type"] == "application/problem+json"


def test_not_multipart_is_415(client, auth, clip):
    headers = {**auth, "Content-Type": "video/mp4"}
    result = client.simulate_post("/upload", body=clip.read_bytes(), headers=headers)
    assert result.status_code == 415
    assert "multipart/form-data" in result.json["detail"]


def test_over_the_size_limit_is_413_and_the_partial_blob_is_removed(
    make_client, auth, user, services, clip
):
    data = clip.read_bytes()
    small = make_client(services.settings.replace(max_upload_bytes=len(data) - 1))
    result = upload(small, auth, [("file", "a.mp4", data)])
    assert result.status_code == 413
    assert str(len(data) - 1) in result.json["detail"]
    assert video_blobs(services) == []


def test_over_quota_is_429_with_retry_after(make_client, auth, user, services, clip):
    data = clip.read_bytes()
    tight = make_client(services.settings.replace(user_quota_bytes=len(data) + 10))
    assert upload(tight, auth, [("file", "a.mp4", data)]).status_code == 202
    result = upload(tight, auth, [("file", "b.mp4", data)])
    assert result.status_code == 429
    assert result.headers["retry-after"]
    assert len(video_blobs(services)) == 1


@pytest.mark.parametrize(
    "filename, shown",
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("C:\\\\Users\\\\me\\\\clip.mp4", "clip.mp4"),
        ("vidéo 日本.mp4", "vidéo 日本.mp4"),
        ("", "upload"),
    ],
)
def test_hostile_file_names_are_display_only(client, auth, clip, filename, shown):
    result = upload(client, auth, [("file", filename, clip.read_bytes())])
    assert result.status_code == 202, result.text
    assert result.json["filename"] == shown
