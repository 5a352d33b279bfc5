"""Single sign-on end to end against an in-process OpenID provider: PKCE, nonce, ID token checks."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from core.accounts import create_user, disable_user
from core.settings import Settings
from core.sso import Identity, LoginStart, OidcClient, ProviderUnavailable, SsoError, sign_in
from oidc_provider import CLIENT_ID, CLIENT_SECRET, running_provider
from testservices import TEST_PASSWORD, free_port

PUBLIC_URL = "http://testserver"


@pytest.fixture(scope="module")
def running():
    with running_provider(f"{PUBLIC_URL}/auth/oidc/callback") as provider:
        yield provider


@pytest.fixture
def provider(running):
    running.user = {
        "sub": "subject-1",
        "email": f"Sso-{uuid.uuid4().hex[:8]}@Example.com",
        "email_verified": True,
        "groups": ["staff"],
    }
    return running


def settings_for(provider, tmp_path, **extra) -> Settings:
    return Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "PUBLIC_URL": PUBLIC_URL,
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_ADMIN_VALUE": "vid2mp3-admins",
            **extra,
        }
    )


@pytest.fixture
def rp(provider, tmp_path) -> OidcClient:
    return OidcClient(settings_for(provider, tmp_path))


def follow(url: str) -> dict[str, str]:
    """Do what the browser does at the provider; return the query it is sent back with."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{PUBLIC_URL}/auth/oidc/callback"
    )
    return dict(parse_qsl(location.query))


def test_sign_in_with_pkce_and_nonce(rp, provider):
    started = rp.begin()
    asked = dict(parse_qsl(urlsplit(started.url).query))
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["code_challenge_method"] == "S256"
    assert asked["code_challenge"] != started.code_verifier
    assert started.code_verifier not in started.url
    assert (asked["state"], asked["nonce"]) == (started.state, started.nonce)
    assert set(asked["scope"].split()) == {"openid", "email", "profile"}
    back = follow(started.url)
    identity = rp.finish(back["code"], back["state"], started)
    assert identity.email == provider.user["email"].lower()
    assert identity.subject == "subject-1"
    assert identity.is_admin is False
    assert identity.claims["nonce"] == started.nonce
    # A code works once.
    with pytest.raises(SsoError, match="refused the sign-in code"):
        rp.finish(back["code"], back["state"], started)


def test_admin_claim_makes_an_admin(rp, provider):
    provider.user["groups"] = ["staff", "vid2mp3-admins"]
    started = rp.begin()
    back = follow(started.url)
    assert rp.finish(back["code"], back["state"], started).is_admin is True


def test_state_from_another_browser_is_refused(rp):
    started = rp.begin()
    back = follow(started.url)
    with pytest.raises(SsoError, match="does not match"):
        rp.finish(back["code"], "forged-state", started)


def test_code_without_the_right_verifier_is_refused(rp):
    started = rp.begin()
    back = follow(started.url)
    stolen = LoginStart(started.url, started.state, started.nonce, "x" * 64)
    with pytest.raises(SsoError, match="refused the sign-in code"):
        rp.finish(back["code"], back["state"], stolen)


@pytest.mark.parametrize(
    ("user_changes", "extra_settings", "message"),
    [
        ({"email_verified": False}, {}, "not verified this e-mail"),
        ({"email": None}, {}, "no e-mail address"),
        ({}, {"OIDC_ALLOWED_DOMAINS": "corp.example, @other.example"}, "example.com may not"),
    ],
)
def test_identity_rules(provider, tmp_path, user_changes, extra_settings, message):
    provider.user.update(user_changes)
    provider.user = {key: value for key, value in provider.user.items() if value is not None}
    rp = OidcClient(settings_for(provider, tmp_path, **extra_settings))
    started = rp.begin()
    back = follow(started.url)
    with pytest.raises(SsoError, match=message):
        rp.finish(back["code"], back["state"], started)


def test_allowed_domain_passes(provider, tmp_path):
    rp = OidcClient(settings_for(provider, tmp_path, OIDC_ALLOWED_DOMAINS="example.com"))
    started = rp.begin()
    back = follow(started.url)
    assert rp.finish(back["code"], back["state"], started).email.endswith("@example.com")


def id_token(provider, key=None, alg="RS256", **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": [CLIENT_ID],
        "sub": "subject-1",
        "iat": now,
        "exp": now + 300,
        "nonce": "the-nonce",
        "email": "a@example.com",
        "email_verified": True,
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    key = key or provider.key
    header = {"alg": alg, "kid": getattr(key, "kid", None) or "k"}
    return jwt.encode(header, claims, key, algorithms=[alg])


def test_a_good_hand_made_id_token_passes(rp, provider):
    # Guards the refusals below: each fails for the reason it names, not for the helper.
    assert rp.verify_id_token(id_token(provider), "the-nonce")["sub"] == "subject-1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iss": "https://evil.example"}, "iss claim"),
        ({"aud": ["someone-else"]}, "aud claim"),
        ({"aud": [CLIENT_ID, "someone-else"]}, "azp claim"),
        ({"nonce": "replayed"}, "nonce claim"),
        ({"nonce": None}, "nonce claim"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iat": None}, "iat claim"),
    ],
)
def test_bad_id_token_claims_are_refused(rp, provider, changes, message):
    with pytest.raises(SsoError, match=message):
        rp.verify_id_token(id_token(provider, **changes), "the-nonce")


def test_id_token_signed_by_another_key_is_refused(rp, provider):
    stranger = RSAKey.generate_key(2048, auto_kid=True)
    with pytest.raises(SsoError, match="not valid"):
        rp.verify_id_token(id_token(provider, key=stranger), "the-nonce")


def test_id_token_signed_with_the_client_secret_is_refused(rp, provider):
    token = id_token(provider, key=OctKey.import_key(CLIENT_SECRET), alg="HS256")
    with pytest.raises(SsoError, match="not valid"):
        rp.verify_id_token(token, "the-nonce")


def test_discovery_must_name_the_configured_issuer(rp, provider, monkeypatch):
    monkeypatch.setattr(provider, "issuer", "https://elsewhere.example")
    with pytest.raises(SsoError, match="names another issuer"):
        rp.begin()


def test_unreachable_provider_is_unavailable(tmp_path):
    settings = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "OIDC_ISSUER": f"http://127.0.0.1:{free_port()}"}
        | {"OIDC_CLIENT_ID": CLIENT_ID}
    )
    with pytest.raises(ProviderUnavailable, match="did not answer"):
        OidcClient(settings).begin()


def test_sign_in_creates_then_links_and_promotes(session, email):
    first = sign_in(session, Identity("s-1", email, False, {}))
    assert (first.email, first.is_admin, first.is_active) == (email, False, True)
    again = sign_in(session, Identity("s-1", email, True, {}))
    assert again.id == first.id and again.is_admin is True
    # Losing the claim later does not demote: an operator does that.
    assert sign_in(session, Identity("s-1", email, False, {})).is_admin is True


def test_sign_in_links_an_existing_password_account(session, email):
    existing = create_user(session, email, TEST_PASSWORD)
    assert sign_in(session, Identity("s-2", email, False, {})).id == existing.id


def test_disabled_account_cannot_sign_in(session, email):
    create_user(session, email, TEST_PASSWORD)
    disable_user(session, email)
    with pytest.raises(SsoError, match="disabled"):
        sign_in(session, Identity("s-3", email, False, {}))


def test_the_issuer_is_matched_as_the_provider_spells_it(rp, provider, monkeypatch):
    # Authentik's issuer ends in a slash; OIDC_ISSUER may be given without it.
    spelled = provider.issuer + "/"
    discovery = provider.discovery
    monkeypatch.setattr(provider, "discovery", lambda: {**discovery(), "issuer": spelled})
    assert rp.verify_id_token(id_token(provider, iss=spelled), "the-nonce")["sub"] == "subject-1"
    with pytest.raises(SsoError, match="iss claim"):
        rp.verify_id_token(id_token(provider), "the-nonce")
