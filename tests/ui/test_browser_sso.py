"""In a real browser: sign in with single sign-on against the tests' own OpenID provider."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from oidc_provider import CLIENT_ID, CLIENT_SECRET, running_provider
from testservices import free_port
from ui.conftest import running_service


@pytest.fixture(scope="module")
def provider_and_service(tmp_path_factory):
    port = free_port()
    with running_provider(f"http://127.0.0.1:{port}/auth/oidc/callback") as provider:
        env = {
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_PROVIDER_NAME": "Test ID",
        }
        with running_service(tmp_path_factory.mktemp("embedded-sso"), port, **env) as service:
            yield provider, service


@pytest.fixture(scope="module")
def service(provider_and_service):
    return provider_and_service[1]


def test_sign_in_with_the_provider(provider_and_service, new_page, screenshots, errors):
    provider, service = provider_and_service
    email = f"sso-{uuid.uuid4().hex[:8]}@example.com"
    provider.user = {"sub": uuid.uuid4().hex, "email": email, "email_verified": True}
    page = new_page()
    page.goto("/convert")
    expect(page).to_have_url(f"{service.url}/sign-in?next=/convert")
    button = page.get_by_role("link", name="Sign in with Test ID")
    expect(button).to_be_visible()
    page.screenshot(path=screenshots / "sso-sign-in.png", full_page=True)

    button.click()

    # The provider signs its user in at once and sends the browser back with a code.
    expect(page).to_have_url(f"{service.url}/convert")
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["vid2mp3_session"]["httpOnly"]
    assert "vid2mp3_oidc" not in cookies  # the one-time sign-in cookie is gone
    assert page.request.get("/jobs").status == 200
    assert errors == []
