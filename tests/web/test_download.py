"""Download an MP3 by file id, by job and by signed link: ranges, ETags, names, privacy."""

from __future__ import annotations

import io
import os
import re
from urllib.parse import quote

import pytest

from core.db import session_scope
from core.models import Job, utcnow
from core.tokens import DOWNLOAD_AUDIENCE

MP3_BYTES = os.urandom(300_000)


@pytest.fixture
def stored_job(services, sessions, user):
    """A job whose MP3 was put straight into the store, as the pipeline will."""
    job = Job(user_id=user.id, state="done", original_filename="Mon été.mkv")
    with session_scope(sessions) as session:
        session.add(job)
        session.flush()
        services.store.put(
            "mp3s", job.id, io.BytesIO(MP3_BYTES), filename="x.mp3", metadata={"owner": user.id}
        )
        job.mp3_blob_id = job.id
        job.mp3_size = len(MP3_BYTES)
        job.stored_at = utcnow()
    return job


def test_seed_download_by_fid_streams_the_whole_mp3(client, auth, stored_job):
    result = client.simulate_get("/download", params={"fid": stored_job.id}, headers=auth)
    assert result.status_code == 200
    assert result.content == MP3_BYTES
    assert result.headers["content-type"] == "audio/mpeg"
    assert result.headers["accept-ranges"] == "bytes"
    disposition = result.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r"; filename=Mon_[\w.]+\.mp3; ", disposition)  # Falcon's ASCII fallback
    assert f"filename*=UTF-8''{quote('Mon été.mp3')}" in disposition


@pytest.mark.parametrize(
    "header, start, end",
    [("bytes=0-99", 0, 100), ("bytes=1000-", 1000, 300_000), ("bytes=-500", 299_500, 300_000)],
)
def test_byte_ranges_are_206_with_content_range(client, auth, stored_job, header, start, end):
    result = client.simulate_get(f"/jobs/{stored_job.id}/mp3", headers={**auth, "Range": header})
    assert result.status_code == 206
    assert result.content == MP3_BYTES[start:end]
    assert result.headers["content-range"] == f"bytes {start}-{end - 1}/{len(MP3_BYTES)}"


def test_unsatisfiable_range_is_416(client, auth, stored_job):
    result = client.simulate_get(
        f"/jobs/{stored_job.id}/mp3", headers={**auth, "Range": "bytes=400000-"}
    )
    assert result.status_code == 416
    assert result.headers["content-range"] == f"bytes */{len(MP3_BYTES)}"


def test_etag_revalidation_is_304(client, auth, stored_job):
    first = client.simulate_get(f"/jobs/{stored_job.id}/mp3", headers=auth)
    etag = first.headers["etag"]
    again = client.simulate_get(
        f"/jobs/{stored_job.id}/mp3", headers={**auth, "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_another_users_file_is_404_but_an_admin_sees_it(client, stored_job, make_user, services):
    def headers_for(user):
        token, _ = services.tokens.issue(str(user.id))
        return {"Authorization": f"Bearer {token}"}

    stranger, admin = make_user(), make_user(is_admin=True)
    for path in (f"/jobs/{stored_job.id}/mp3", f"/download?fid={stored_job.id}"):
        assert client.simulate_get(path, headers=headers_for(stranger)).status_code == 404
        assert client.simulate_get(path, headers=headers_for(admin)).status_code == 200
    assert (
        client.simulate_get(f"/jobs/{stored_job.id}", headers=headers_for(stranger)).status_code
        == 404
    )


@pytest.mark.parametrize("fid", ["nope", "../../etc/passwd", "0" * 32, "%00", "a" * 500])
def test_malformed_or_unknown_ids_are_404(client, auth, fid):
    assert client.simulate_get("/download", params={"fid": fid}, headers=auth).status_code == 404
    result = client.simulate_get(f"/jobs/{quote(fid, safe='')}/mp3", headers=auth)
    assert result.status_code == 404
    assert result.headers["content-type"] == "application/problem+json"


def test_missing_fid_is_400(client, auth):
    assert client.simulate_get("/download", headers=auth).status_code == 400


def test_mp3_not_ready_is_404_with_the_state(client, auth, sessions, user):
    job = Job(user_id=user.id, state="converting", original_filename="a.mp4")
    with session_scope(sessions) as session:
        session.add(job)
    result = client.simulate_get(f"/jobs/{job.id}/mp3", headers=auth)
    assert result.status_code == 404
    assert "converting" in result.json["detail"]


def test_signed_link_works_without_a_bearer_header(client, services, stored_job):
    token, _ = services.tokens.issue(stored_job.id, audience=DOWNLOAD_AUDIENCE)
    result = client.simulate_get(f"/d/{token}")
    assert result.status_code == 200
    assert result.content == MP3_BYTES


def test_api_token_is_not_a_download_link(client, services, stored_job, user):
    token, _ = services.tokens.issue(str(user.id))
    result = client.simulate_get(f"/d/{token}")
    assert result.status_code == 401
    assert "audience" in result.json["detail"]


def test_expired_download_link_is_401(client, services, stored_job):
    from core.tokens import TokenService

    past = TokenService(
        services.settings.signing_secret(), "vid2mp3", "vid2mp3-api", 60, clock=lambda: 1.0e9
    )
    token, _ = past.issue(stored_job.id, audience=DOWNLOAD_AUDIENCE)
    result = client.simulate_get(f"/d/{token}")
    assert result.status_code == 401
    assert "expired" in result.json["detail"]


def test_quotes_and_backslashes_never_reach_the_download_name(
    client, auth, sessions, services, user
):
    job = Job(user_id=user.id, state="done", original_filename='say "hi"\\now.mkv')
    with session_scope(sessions) as session:
        session.add(job)
        session.flush()
        services.store.put("mp3s", job.id, io.BytesIO(MP3_BYTES), filename="x.mp3")
        job.mp3_blob_id = job.id
        job.stored_at = utcnow()
    result = client.simulate_get(f"/jobs/{job.id}/mp3", headers=auth)
    assert result.status_code == 200
    assert result.headers["content-disposition"] == 'attachment; filename="say _hi__now.mp3"'
