"""The browser's session: sign-in form, HttpOnly cookie, CSRF on state changes, sign-out."""

from __future__ import annotations

import pytest

from cookies import ORIGIN, Browser, form_token
from forms import multipart
from media import make_clip
from testservices import TEST_PASSWORD
from web.browser import SESSION_COOKIE


@pytest.fixture
def browser(client):
    return Browser(client)


def signed_in(client, user) -> Browser:
    browser = Browser(client)
    result = browser.sign_in(user.email, TEST_PASSWORD)
    assert result.status_code == 303, result.text
    return browser


def test_pages_send_a_signed_out_browser_to_the_sign_in_page(browser):
    expected = {
        ("/", ""): "/sign-in?next=/",
        ("/job/0123456789abcdef0123456789abcdef", ""): (
            "/sign-in?next=/job/0123456789abcdef0123456789abcdef"
        ),
        ("/users", "x=1"): "/sign-in?next=/users%3Fx%3D1",
    }
    for (path, query), location in expected.items():
        result = browser.get(path, query_string=query)
        assert result.status_code == 303
        assert result.headers["location"] == location


def test_sign_in_sets_an_http_only_same_site_cookie(client, user):
    browser = Browser(client)
    result = browser.sign_in(user.email, TEST_PASSWORD)
    assert result.status_code == 303
    assert result.headers["location"] == "/"
    cookie = result.cookies[SESSION_COOKIE]
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert not cookie.secure  # PUBLIC_URL is http in the tests
    assert cookie.path == "/"
    page = browser.get("/")
    assert page.status_code == 200
    assert 'name="csrf-token"' in page.text


def test_the_cookie_is_secure_when_the_public_url_is_https(make_client, services, user):
    client = make_client(services.settings.replace(public_url="https://mp3.example.org"))
    browser = Browser(client)
    token = form_token(browser.get("/sign-in").text)
    result = browser.post_form(
        "/sign-in",
        {"csrf_token": token, "email": user.email, "password": TEST_PASSWORD},
        origin="https://mp3.example.org",
    )
    assert result.status_code == 303, result.text
    assert result.cookies[SESSION_COOKIE].secure


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(client, user):
    for asked, location in [
        ("/convert", "/convert"),
        ("//evil.example", "/"),
        ("https://x.y", "/"),
    ]:
        browser = Browser(client)
        form = browser.get("/sign-in", query_string=f"next={asked}").text
        fields = {"csrf_token": form_token(form), "email": user.email, "password": TEST_PASSWORD}
        result = browser.post_form("/sign-in", {**fields, "next": asked})
        assert result.headers["location"] == location


def test_a_signed_in_browser_skips_the_sign_in_form(client, user):
    browser = signed_in(client, user)
    result = browser.get("/sign-in", query_string="next=/convert")
    assert result.status_code == 303
    assert result.headers["location"] == "/convert"


def test_a_wrong_password_shows_the_form_again(browser, user):
    result = browser.sign_in(user.email, "not the password")
    assert result.status_code == 401
    assert "Wrong e-mail address or password." in result.text
    assert SESSION_COOKIE not in browser.cookies


def test_sign_in_is_throttled_together_with_the_api_login(make_client, services, user):
    client = make_client(services.settings.replace(login_max_failures=2))
    browser = Browser(client)
    assert browser.sign_in(user.email, "wrong one").status_code == 401
    assert browser.sign_in(user.email, "wrong two").status_code == 401
    locked = browser.sign_in(user.email, TEST_PASSWORD)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many failed attempts" in locked.text
    api = client.simulate_post("/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert api.status_code == 429


@pytest.mark.parametrize(
    ("origin", "with_token"),
    [("http://evil.example", True), (None, True), (ORIGIN, False)],
    ids=["other-site", "no-origin", "no-token"],
)
def test_a_sign_in_post_from_elsewhere_is_refused(browser, user, origin, with_token):
    token = form_token(browser.get("/sign-in").text)
    fields = {"email": user.email, "password": TEST_PASSWORD}
    if with_token:
        fields["csrf_token"] = token
    result = browser.post_form("/sign-in", fields, origin=origin)
    assert result.status_code == 403
    assert result.headers["content-type"] == "application/problem+json"
    assert result.json["detail"].startswith("cross-site request refused")


def upload_with_cookie(browser: Browser, clip, headers: dict):
    body, form_headers = multipart([("file", "clip.mp4", clip.read_bytes())])
    return browser.request("POST", "/upload", body=body, headers={**form_headers, **headers})


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("ui-session") / "clip.mp4", seconds=1)


def test_the_cookie_authenticates_the_api_and_state_changes_need_the_csrf_token(
    client, user, small_clip, enqueued
):
    browser = signed_in(client, user)
    assert browser.get("/jobs").status_code == 200
    token = browser.csrf()
    refused = [
        upload_with_cookie(browser, small_clip, {"Origin": ORIGIN}),
        upload_with_cookie(browser, small_clip, {"Origin": ORIGIN, "X-CSRF-Token": "forged"}),
        upload_with_cookie(
            browser, small_clip, {"Origin": "http://evil.example", "X-CSRF-Token": token}
        ),
        upload_with_cookie(browser, small_clip, {"X-CSRF-Token": token}),
    ]
    assert [result.status_code for result in refused] == [403, 403, 403, 403]
    assert enqueued == []
    accepted = upload_with_cookie(browser, small_clip, {"Origin": ORIGIN, "X-CSRF-Token": token})
    assert accepted.status_code == 202, accepted.text
    referer = upload_with_cookie(
        browser, small_clip, {"Referer": f"{ORIGIN}/convert", "X-CSRF-Token": token}
    )
    assert referer.status_code == 202, referer.text


def test_another_sessions_csrf_token_does_not_fit(client, user, small_clip):
    first, second = signed_in(client, user), signed_in(client, user)
    result = upload_with_cookie(
        first, small_clip, {"Origin": ORIGIN, "X-CSRF-Token": second.csrf()}
    )
    assert result.status_code == 403


def test_a_bearer_token_needs_no_csrf_token_even_next_to_a_cookie(client, user, auth, small_clip):
    browser = signed_in(client, user)
    result = upload_with_cookie(browser, small_clip, auth)
    assert result.status_code == 202, result.text


def test_sign_out_revokes_the_token_at_once(client, user):
    browser = signed_in(client, user)
    token = browser.cookies[SESSION_COOKIE]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.simulate_get("/jobs", headers=bearer).status_code == 200
    page = browser.get("/")
    result = browser.post_form("/sign-out", {"csrf_token": form_token(page.text)})
    assert result.status_code == 303
    assert result.headers["location"] == "/sign-in"
    assert SESSION_COOKIE not in browser.cookies
    after = client.simulate_get("/jobs", headers=bearer)
    assert after.status_code == 401
    assert after.json["detail"] == "signed out"
    replayed = client.simulate_get("/", cookies={SESSION_COOKIE: token})
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/sign-in")


def test_sign_out_from_another_site_is_refused(client, user):
    browser = signed_in(client, user)
    token = form_token(browser.get("/").text)
    result = browser.post_form("/sign-out", {"csrf_token": token}, origin="http://evil.example")
    assert result.status_code == 403
    assert browser.get("/").status_code == 200
