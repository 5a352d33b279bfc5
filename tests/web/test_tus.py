"""tus 1.0 at /files over the app: creation, offsets, checksums, termination, expiry, refusals."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from sqlalchemy import update

from core.db import session_scope
from core.models import Job, Upload
from core.states import Step
from core.storage import StorageError
from core.uploads import LOCK_SECONDS

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@pytest.fixture
def create(client, auth):
    def create(length: int, headers=None, **meta: str):
        meta.setdefault("filename", "clip.mp4")
        result = client.simulate_post(
            "/files",
            headers={
                **auth,
                **TUS,
                "Upload-Length": str(length),
                "Upload-Metadata": metadata(**meta),
                **(headers or {}),
            },
        )
        return result

    return create


def upload_path(result) -> str:
    assert result.status_code == 201, result.text
    return result.headers["Location"]


def patch(client, auth, path, offset, body, **headers):
    return client.simulate_patch(
        path, headers={**auth, **OCTETS, "Upload-Offset": str(offset), **headers}, body=body
    )


def test_options_describes_the_server(client):
    result = client.simulate_options("/files")
    assert result.status_code == 204
    assert result.headers["Tus-Resumable"] == "1.0.0"
    assert result.headers["Tus-Version"] == "1.0.0"
    assert result.headers["Tus-Extension"] == "creation,termination,expiration,checksum"
    assert result.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"
    assert int(result.headers["Tus-Max-Size"]) > 0


def test_upload_in_pieces_with_checksums_becomes_a_job(
    client, auth, create, clip, services, sessions, enqueued
):
    video = clip.read_bytes()
    result = create(
        len(video), filename="My clip.mp4", filetype="video/mp4", bitrate="128", keep_video="true"
    )
    path = upload_path(result)
    assert result.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in result.headers
    upload_id = path.rsplit("/", 1)[1]
    cut = len(video) // 3
    sha1 = base64.b64encode(hashlib.sha1(video[:cut], usedforsecurity=False).digest()).decode()
    first = patch(client, auth, path, 0, video[:cut], **{"Upload-Checksum": f"sha1 {sha1}"})
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == str(cut)
    head = client.simulate_head(path, headers={**auth, **TUS})
    assert head.status_code == 200
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (
        str(cut),
        str(len(video)),
    )
    assert head.headers["Cache-Control"] == "no-store"
    assert "bitrate MTI4" in head.headers["Upload-Metadata"]
    assert enqueued == []
    sha256 = base64.b64encode(hashlib.sha256(video[cut:]).digest()).decode()
    last = patch(client, auth, path, cut, video[cut:], **{"Upload-Checksum": f"sha256 {sha256}"})
    assert last.status_code == 204, last.text
    assert last.headers["Upload-Offset"] == str(len(video))
    # The job is made as POST /upload makes one: same id as the upload, options, enqueued.
    assert enqueued == [(upload_id, Step.CONVERT)]
    job = client.simulate_get(f"/jobs/{upload_id}", headers=auth).json
    assert (job["filename"], job["state"]) == ("My clip.mp4", "queued")
    with session_scope(sessions) as session:
        row = session.get(Job, upload_id)
        assert (row.options["bitrate"], row.keep_video, row.video_size) == (128, True, len(video))
    info = services.store.info("videos", upload_id)
    assert info.sha256 == hashlib.sha256(video).hexdigest()
    stored = b"".join(services.store.open_range("videos", upload_id))
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(video).hexdigest()
    # A finished upload still answers HEAD (a client whose last answer was lost learns it is
    # done) and refuses more bytes.
    head = client.simulate_head(path, headers={**auth, **TUS})
    assert head.headers["Upload-Offset"] == str(len(video))
    assert patch(client, auth, path, 0, b"x").status_code == 409


def test_wrong_offset_is_409_with_the_right_one(client, auth, create):
    path = upload_path(create(100))
    assert patch(client, auth, path, 0, b"a" * 10).status_code == 204
    result = patch(client, auth, path, 5, b"b" * 10)
    assert result.status_code == 409
    assert result.headers["Upload-Offset"] == "10"
    assert "Upload-Offset is 5 but the upload is at 10" in result.json["detail"]


def test_bad_checksum_is_460_and_the_bytes_are_dropped(client, auth, create):
    path = upload_path(create(100))
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    result = patch(client, auth, path, 0, b"a" * 10, **{"Upload-Checksum": f"sha256 {wrong}"})
    assert result.status_code == 460
    assert "Upload-Checksum" in result.json["detail"]
    head = client.simulate_head(path, headers={**auth, **TUS})
    assert head.headers["Upload-Offset"] == "0"
    bad = patch(client, auth, path, 0, b"a", **{"Upload-Checksum": "md5 AAAA"})
    assert bad.status_code == 400
    assert "sha1, sha256" in bad.json["detail"]


def test_missing_tus_resumable_is_412(client, auth, create):
    path = upload_path(create(100))
    for method in ("POST", "HEAD", "PATCH", "DELETE"):
        target = "/files" if method == "POST" else path
        result = client.simulate_request(method, target, headers={**auth, "Upload-Length": "5"})
        assert result.status_code == 412, method
        assert result.headers["Tus-Version"] == "1.0.0"


def test_too_large_is_413(client, auth, create, services, make_client):
    limit = services.settings.max_upload_bytes
    result = create(limit + 1)
    assert result.status_code == 413
    assert result.json["limit"] == limit
    path = upload_path(create(10))
    over = patch(client, auth, path, 0, b"a" * 11)
    assert over.status_code == 413
    assert "past the upload's length of 10" in over.json["detail"]


def test_bad_creation_requests(create):
    assert create(0).status_code == 400
    assert create(10, {"Upload-Length": "ten"}).status_code == 400
    assert create(10, {"Upload-Metadata": "filename not-base64!"}).status_code == 400
    refused = create(10, bitrate="7")
    assert refused.status_code == 422
    assert refused.json["field"] == "bitrate"
    assert create(10, colour="blue").json["field"] == "colour"


def test_patch_needs_the_offset_stream_type(client, auth, create):
    path = upload_path(create(10))
    result = client.simulate_patch(
        path, headers={**auth, **TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}, body="x"
    )
    assert result.status_code == 415


def test_not_media_is_415_and_leaves_nothing(client, auth, create, services, sessions):
    path = upload_path(create(5000))
    upload_id = path.rsplit("/", 1)[1]
    result = patch(client, auth, path, 0, b"\x00" * 5000)
    assert result.status_code == 415
    assert client.simulate_head(path, headers={**auth, **TUS}).status_code == 404
    assert not services.store.delete("videos", upload_id)


def test_other_users_upload_is_404(client, auth, create, make_user):
    from testservices import TEST_PASSWORD

    path = upload_path(create(10))
    other = make_user()
    token = client.simulate_post(
        "/login", json={"email": other.email, "password": TEST_PASSWORD}
    ).json["access_token"]
    theirs = {"Authorization": f"Bearer {token}"}
    assert client.simulate_head(path, headers={**theirs, **TUS}).status_code == 404
    assert patch(client, theirs, path, 0, b"a").status_code == 404
    assert client.simulate_delete(path, headers={**theirs, **TUS}).status_code == 404
    assert client.simulate_head("/files/" + "0" * 32, headers={**auth, **TUS}).status_code == 404
    assert client.simulate_head(path, headers=TUS).status_code == 401


def test_expired_upload_is_410(client, auth, create, sessions):
    path = upload_path(create(10))
    with session_scope(sessions) as session:
        session.execute(
            update(Upload)
            .where(Upload.id == path.rsplit("/", 1)[1])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert client.simulate_head(path, headers={**auth, **TUS}).status_code == 410
    assert patch(client, auth, path, 0, b"a").status_code == 410


def test_a_held_upload_is_423_until_its_lock_lapses(client, auth, create, sessions):
    path = upload_path(create(10))
    upload_id = path.rsplit("/", 1)[1]

    def hold(seconds: float) -> None:
        with session_scope(sessions) as session:
            session.execute(
                update(Upload)
                .where(Upload.id == upload_id)
                .values(
                    lock_token="someone-else",
                    locked_until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds),
                )
            )

    hold(LOCK_SECONDS)
    assert patch(client, auth, path, 0, b"a").status_code == 423
    assert client.simulate_delete(path, headers={**auth, **TUS}).status_code == 423
    hold(-1)  # the holder stalled past its lock: the next writer takes over
    assert patch(client, auth, path, 0, b"a").status_code == 204


def test_termination_removes_the_bytes(client, auth, create, services):
    path = upload_path(create(1000))
    upload_id = path.rsplit("/", 1)[1]
    assert patch(client, auth, path, 0, b"a" * 400).status_code == 204
    result = client.simulate_delete(path, headers={**auth, **TUS})
    assert result.status_code == 204
    assert result.headers["Tus-Resumable"] == "1.0.0"
    assert client.simulate_head(path, headers={**auth, **TUS}).status_code == 404
    with pytest.raises(StorageError, match="unfinished blob"):
        services.store.finish_append("videos", upload_id, 400, filename="x")
