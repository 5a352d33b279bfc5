"""Personal access tokens over HTTP: managed with a login, used as bearer tokens within scope."""

from __future__ import annotations

import datetime as dt

import pytest

from core.db import session_scope
from core.models import Job, PersonalAccessToken, utcnow
from forms import upload


def make_token(client, auth, scopes, **extra) -> dict:
    result = client.simulate_post(
        "/account/tokens", json={"name": "script", "scopes": scopes, **extra}, headers=auth
    )
    assert result.status_code == 201, result.text
    return result.json


def bearer(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['token']}"}


def test_create_shows_the_token_once_and_lists_it_without_secret(client, auth):
    created = make_token(client, auth, ["read", "upload"], expires_in_days=30)
    assert created["token"].startswith("vid2mp3_pat_")
    assert created["scopes"] == ["read", "upload"]
    assert created["hint"] == created["token"][:16] + "…"
    expires = dt.datetime.fromisoformat(created["expires_at"])
    assert dt.timedelta(days=29) < expires - utcnow() <= dt.timedelta(days=30)
    listed = client.simulate_get("/account/tokens", headers=auth)
    assert listed.status_code == 200
    (item,) = listed.json["items"]
    assert item == {key: value for key, value in created.items() if key != "token"}
    assert created["token"] not in listed.text


def test_read_token_reads_but_cannot_upload(client, auth, clip):
    token = bearer(make_token(client, auth, ["read"]))
    assert client.simulate_get("/jobs", headers=token).status_code == 200
    validated = client.simulate_post("/validate", headers=token)
    assert validated.status_code == 200
    assert validated.json["scope"] == "read"
    refused = upload(client, token, [("file", "clip.mp4", clip.read_bytes())])
    assert refused.status_code == 403
    assert refused.json["detail"] == "this personal access token lacks the upload scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_upload_token_uploads_and_acts_on_jobs_but_cannot_read(client, auth, clip, enqueued):
    token = bearer(make_token(client, auth, ["upload"]))
    uploaded = upload(client, token, [("file", "clip.mp4", clip.read_bytes())])
    assert uploaded.status_code == 202, uploaded.text
    job_id = uploaded.json["id"]
    assert [job for job, _ in enqueued] == [job_id]
    assert client.simulate_get(f"/jobs/{job_id}", headers=token).status_code == 403
    assert client.simulate_delete(f"/jobs/{job_id}", headers=token).status_code == 200
    assert client.simulate_get(f"/jobs/{job_id}", headers=auth).json["state"] == "cancelled"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_token_never_manages_tokens(client, auth, method):
    token = bearer(make_token(client, auth, ["read", "upload"]))
    result = client.simulate_request(
        method, "/account/tokens", json={"name": "x", "scopes": ["read"]}, headers=token
    )
    assert result.status_code == 403
    assert "log in with a password" in result.json["detail"]


def test_a_token_cannot_revoke_itself_but_its_owner_can(client, auth):
    created = make_token(client, auth, ["read", "upload"])
    path = f"/account/tokens/{created['id']}"
    assert client.simulate_delete(path, headers=bearer(created)).status_code == 403
    assert client.simulate_delete(path, headers=auth).status_code == 204
    assert client.simulate_delete(path, headers=auth).status_code == 404
    gone = client.simulate_get("/jobs", headers=bearer(created))
    assert gone.status_code == 401
    assert gone.json["detail"] == "unknown or revoked personal access token"


def test_another_users_token_is_invisible(client, auth, services, make_user):
    created = make_token(client, auth, ["read"])
    stranger = make_user()
    headers = {"Authorization": f"Bearer {services.tokens.issue(str(stranger.id))[0]}"}
    assert client.simulate_get("/account/tokens", headers=headers).json["items"] == []
    path = f"/account/tokens/{created['id']}"
    assert client.simulate_delete(path, headers=headers).status_code == 404
    assert client.simulate_get("/jobs", headers=bearer(created)).status_code == 200


def test_an_admins_token_has_no_admin_powers(client, auth, user, make_user, services, sessions):
    with session_scope(sessions) as session:
        session.add(Job(user_id=user.id, original_filename="someone else's.mp4"))
    admin = make_user(is_admin=True)
    login = {"Authorization": f"Bearer {services.tokens.issue(str(admin.id))[0]}"}
    token = bearer(make_token(client, login, ["read"]))
    everyone = {"all": "true"}
    assert client.simulate_get("/jobs", params=everyone, headers=login).json["total"] >= 1
    jobs = client.simulate_get("/jobs", params=everyone, headers=token)
    assert jobs.status_code == 200
    assert jobs.json["total"] == 0


def test_expired_token_is_401(client, auth, sessions):
    created = make_token(client, auth, ["read"], expires_in_days=1)
    with session_scope(sessions) as session:
        row = session.get(PersonalAccessToken, created["id"])
        row.expires_at = utcnow() - dt.timedelta(minutes=1)
    result = client.simulate_get("/jobs", headers=bearer(created))
    assert result.status_code == 401
    assert result.json["detail"] == "personal access token expired"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"scopes": ["read"]}, 422, 'the body needs a string field "name"'),
        ({"name": "x", "scopes": ["root"]}, 422, "unknown scope 'root'; use read, upload"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, 422, "expires_in_days must"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": True}, 422, "expires_in_days must"),
    ],
)
def test_bad_creation_requests_are_422(client, auth, body, status, detail):
    result = client.simulate_post("/account/tokens", json=body, headers=auth)
    assert result.status_code == status
    assert result.json["detail"].startswith(detail)


def test_creation_needs_json(client, auth):
    result = client.simulate_post("/account/tokens", body="name=x", headers=auth)
    assert result.status_code == 415
