"""The web UI's pages on the test client: headers, assets, the job page, account and users."""

from __future__ import annotations

import configparser
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

from conversion import probe
from cookies import Browser, form_token
from core.accounts import get_user_by_email
from core.db import session_scope
from forms import upload
from testservices import TEST_PASSWORD
from web.ui.render import CONTENT_SECURITY_POLICY

PAGES = ["/", "/convert", "/account"]
ROOT = Path(__file__).resolve().parents[2]


def signed_in(client, user) -> Browser:
    browser = Browser(client)
    assert browser.sign_in(user.email, TEST_PASSWORD).status_code == 303
    return browser


@pytest.fixture
def admin(make_user):
    return make_user(is_admin=True)


def test_every_page_carries_the_security_headers(client, admin):
    signed_out, browser = Browser(client), signed_in(client, admin)
    for path in [*PAGES, "/users", "/sign-in"]:
        page = (signed_out if path == "/sign-in" else browser).get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and "style=" not in page.text
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY


def test_assets_are_versioned_with_etags(client, user):
    page = signed_in(client, user).get("/")
    links = re.findall(r'(?:href|src)="(/assets/[^"?]+)\?v=([0-9a-f]+)"', page.text)
    assert {path for path, _ in links} >= {
        "/assets/app.css",
        "/assets/jobs.js",
        "/assets/favicon.svg",
        "/assets/common.js",
    }
    for path, version in links:
        versioned = client.simulate_get(path, query_string=f"v={version}")
        assert versioned.status_code == 200
        assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
        etag = versioned.headers["etag"]
        assert etag.strip('"').startswith(version)
        plain = client.simulate_get(path)
        assert plain.headers["cache-control"] == "no-cache"
        again = client.simulate_get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
    assert (
        client.simulate_get("/assets/jobs.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.simulate_get("/assets/nothing.js").status_code == 404
    assert client.simulate_get("/assets/..%2Fsample.py").status_code == 404


def test_vendored_modules_are_served_from_their_folder(client):
    # mp4box.js imports its chunks relative to itself: they must sit beside it.
    entry = client.simulate_get("/assets/vendor/mp4box/mp4box.all.mjs")
    assert entry.status_code == 200
    assert entry.headers["content-type"].startswith("text/javascript")
    chunks = re.findall(r'from "\./([^"]+)"', entry.text)
    assert chunks
    for chunk in chunks:
        assert client.simulate_get(f"/assets/vendor/mp4box/{chunk}").status_code == 200
    assert client.simulate_get("/assets/vendor/mp4box/../../app.css").status_code == 404


def test_the_job_page_shows_a_job_to_its_owner_only(client, user, make_user, auth, clip):
    result = upload(
        client, auth, [("file", "holiday <3>.mp4", clip.read_bytes()), ("bitrate", None, b"128")]
    )
    job_id = result.json["id"]
    page = signed_in(client, user).get(f"/job/{job_id}")
    assert page.status_code == 200
    assert "holiday &lt;3&gt;.mp4" in page.text
    assert "128 kbit/s" in page.text
    stranger = signed_in(client, make_user()).get(f"/job/{job_id}")
    assert stranger.status_code == 404
    assert "holiday" not in stranger.text


def test_changing_ones_password(client, user):
    browser = signed_in(client, user)

    def change(current, new, confirm):
        token = form_token(browser.get("/account").text)
        fields = {"csrf_token": token, "current_password": current}
        return browser.post_form(
            "/account/password", {**fields, "new_password": new, "confirm_password": confirm}
        )

    assert "passwords differ" in change(TEST_PASSWORD, "new password 1", "new password 2").text
    assert "current password is not right" in change("wrong", "new pass", "new pass").text
    short = change(TEST_PASSWORD, "short", "short")
    assert short.status_code == 422
    assert "at least 8 characters" in short.text
    done = change(TEST_PASSWORD, "a brand new password", "a brand new password")
    assert done.status_code == 303
    assert done.headers["location"] == "/account?done=password"
    assert (
        "Your password was changed." in browser.get("/account", query_string="done=password").text
    )
    assert Browser(client).sign_in(user.email, TEST_PASSWORD).status_code == 401
    assert Browser(client).sign_in(user.email, "a brand new password").status_code == 303


def test_admins_manage_accounts_and_others_do_not_see_the_page(client, admin, user, sessions):
    assert signed_in(client, user).get("/users").status_code == 404
    browser = signed_in(client, admin)

    def post(path, **fields):
        token = form_token(browser.get("/users").text)
        return browser.post_form(path, {"csrf_token": token, **fields})

    email = f"new-{admin.id}@example.com"
    created = post("/users", email=email, password="first password")
    assert created.status_code == 303
    listing = browser.get("/users", query_string=created.headers["location"].split("?")[1])
    assert f"Account {email} created." in listing.text
    duplicate = post("/users", email=email, password="first password")
    assert duplicate.status_code == 422
    assert "already exists" in duplicate.text
    with session_scope(sessions) as session:
        new_id = get_user_by_email(session, email).id
    assert post(f"/users/{new_id}/disable").status_code == 303
    assert Browser(client).sign_in(email, "first password").status_code == 401
    assert post(f"/users/{new_id}/enable").status_code == 303
    assert post(f"/users/{new_id}/password", password="second password").status_code == 303
    assert Browser(client).sign_in(email, "second password").status_code == 303
    itself = post(f"/users/{admin.id}/disable")
    assert itself.status_code == 422
    assert "cannot disable your own account" in itself.text
    assert post("/users/999999999/disable").status_code == 404


def test_a_form_post_from_another_site_is_refused(client, admin):
    browser = signed_in(client, admin)
    token = form_token(browser.get("/users").text)
    fields = {"csrf_token": token, "email": "x@example.com", "password": "password!"}
    result = browser.post_form("/users", fields, origin="http://evil.example")
    assert result.status_code == 403
    assert result.json["detail"].startswith("cross-site request refused")


def test_the_sample_clip_is_served_to_signed_in_users(client, user, tmp_path):
    assert client.simulate_get("/sample.mp4").status_code == 401
    result = signed_in(client, user).get("/sample.mp4")
    assert result.status_code == 200
    assert result.headers["content-type"] == "video/mp4"
    assert "vid2mp3-sample.mp4" in result.headers["content-disposition"]
    path = tmp_path / "sample.mp4"
    path.write_bytes(result.content)
    info = probe(path)
    assert info.has_video
    assert info.duration == pytest.approx(10.0, abs=0.1)


def test_every_ui_template_and_asset_ships_in_the_package():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [item.strip() for item in config["options.package_data"]["web.ui"].split(",")]
    folder = ROOT / "src" / "web" / "ui"
    files = [
        path.relative_to(folder).as_posix()
        for sub in ("templates", "static")
        for path in (folder / sub).rglob("*")
        if path.is_file()
    ]
    assert len(files) > 10
    assert [name for name in files if not any(fnmatch(name, p) for p in patterns)] == []
