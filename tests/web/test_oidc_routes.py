"""Sign in through the OpenID provider over HTTP: /auth/oidc/login → provider → /callback."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from oidc_provider import CLIENT_ID, CLIENT_SECRET, running_provider
from testservices import free_port


@pytest.fixture(scope="module")
def provider():
    with running_provider("http://testserver/auth/oidc/callback") as provider:
        yield provider


@pytest.fixture
def sso_client(make_client, services, provider):
    provider.user = {
        "sub": uuid.uuid4().hex,
        "email": f"sso-{uuid.uuid4().hex[:10]}@example.com",
        "email_verified": True,
    }
    settings = services.settings.replace(
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_admin_value="vid2mp3-admins",
    )
    return make_client(settings)


def start(client, **params):
    """GET /auth/oidc/login; return the provider URL and the sign-in cookie."""
    result = client.simulate_get("/auth/oidc/login", params=params)
    assert result.status_code == 302, result.text
    cookie = result.cookies["vid2mp3_oidc"]
    assert cookie.http_only and cookie.path == "/auth/oidc" and cookie.same_site == "Lax"
    return result.headers["Location"], cookie.value


def at_provider(url: str) -> dict[str, str]:
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/oidc/callback"
    return dict(parse_qsl(location.query))


def test_sign_in_issues_an_api_token_for_a_new_account(sso_client, provider):
    url, cookie = start(sso_client)
    back = at_provider(url)
    result = sso_client.simulate_get(
        "/auth/oidc/callback", params=back, cookies={"vid2mp3_oidc": cookie}
    )
    assert result.status_code == 200, result.text
    assert result.json["token_type"] == "Bearer"
    assert result.cookies["vid2mp3_oidc"].value == ""  # the one-time sign-in cookie is gone
    headers = {"Authorization": f"Bearer {result.json['access_token']}"}
    claims = sso_client.simulate_post("/validate", headers=headers).json
    assert claims["email"] == provider.user["email"]
    assert sso_client.simulate_get("/jobs", headers=headers).status_code == 200


@pytest.mark.parametrize(("asked", "lands"), [("/convert", "/convert"), ("//evil.example", "/")])
def test_sign_in_from_the_browser_starts_its_session(sso_client, provider, asked, lands):
    url, cookie = start(sso_client, next=asked)
    result = sso_client.simulate_get(
        "/auth/oidc/callback", params=at_provider(url), cookies={"vid2mp3_oidc": cookie}
    )
    assert result.status_code == 303, result.text
    assert result.headers["Location"] == lands
    session = result.cookies["vid2mp3_session"]
    assert session.http_only and session.path == "/"
    page = sso_client.simulate_get("/account", cookies={"vid2mp3_session": session.value})
    assert page.status_code == 200
    assert provider.user["email"] in page.text


def test_sign_in_page_offers_the_provider(sso_client, client):
    assert "Sign in with" not in client.simulate_get("/sign-in").text
    page = sso_client.simulate_get("/sign-in", params={"next": "/convert"})
    assert 'href="/auth/oidc/login?next=/convert">Sign in with 127.0.0.1</a>' in page.text


def test_callback_without_the_browsers_cookie_is_refused(sso_client):
    url, _ = start(sso_client)
    back = at_provider(url)
    result = sso_client.simulate_get("/auth/oidc/callback", params=back)
    assert result.status_code == 400
    assert "no sign-in in progress" in result.json["detail"]


def test_callback_with_another_sign_ins_cookie_is_refused(sso_client):
    url, _ = start(sso_client)
    _, other_cookie = start(sso_client)
    back = at_provider(url)
    result = sso_client.simulate_get(
        "/auth/oidc/callback", params=back, cookies={"vid2mp3_oidc": other_cookie}
    )
    assert result.status_code == 403
    assert "does not match" in result.json["detail"]


def test_unverified_email_is_403(sso_client, provider):
    provider.user["email_verified"] = False
    url, cookie = start(sso_client)
    result = sso_client.simulate_get(
        "/auth/oidc/callback", params=at_provider(url), cookies={"vid2mp3_oidc": cookie}
    )
    assert result.status_code == 403
    assert result.json["detail"] == "the provider has not verified this e-mail address"


def test_provider_error_is_401(sso_client):
    _, cookie = start(sso_client)
    result = sso_client.simulate_get(
        "/auth/oidc/callback",
        params={"error": "access_denied", "error_description": "user cancelled"},
        cookies={"vid2mp3_oidc": cookie},
    )
    assert result.status_code == 401
    assert result.json["detail"] == "the sign-in provider said no: user cancelled"


def test_routes_exist_only_when_configured(client):
    assert client.simulate_get("/auth/oidc/login").status_code == 404


def test_unreachable_provider_is_503(make_client, services):
    settings = services.settings.replace(
        oidc_issuer=f"http://127.0.0.1:{free_port()}", oidc_client_id=CLIENT_ID
    )
    result = make_client(settings).simulate_get("/auth/oidc/login")
    assert result.status_code == 503
    assert result.headers["Retry-After"]
    assert "did not answer" in result.json["detail"]
