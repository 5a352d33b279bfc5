"""Log in with HTTP Basic (the seed's curl) or JSON, validate tokens, throttle guessing."""

from __future__ import annotations

import base64
import random

import pytest

from core.accounts import disable_user
from core.db import session_scope
from core.tokens import DOWNLOAD_AUDIENCE
from testservices import TEST_PASSWORD


def basic(email: str, password: str) -> dict:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def assert_problem(result, status: int, detail_part: str) -> None:
    assert detail_part, "name the words the detail must hold"
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/problem+json"
    assert result.json["status"] == status
    assert detail_part in result.json["detail"]


def test_basic_login_returns_a_bearer_token(client, user):
    result = client.simulate_post("/login", headers=basic(user.email, TEST_PASSWORD))
    assert result.status_code == 200
    body = result.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    validated = client.simulate_post(
        "/validate", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert validated.status_code == 200
    assert validated.json["sub"] == str(user.id)
    assert validated.json["email"] == user.email


def test_json_login_is_case_insensitive_on_email(client, user):
    result = client.simulate_post(
        "/login", json={"email": user.email.upper(), "password": TEST_PASSWORD}
    )
    assert result.status_code == 200


@pytest.mark.parametrize(
    "headers, body, status, detail",
    [
        ({}, None, 401, "credentials required"),
        ({"Authorization": "Basic !!!"}, None, 400, "malformed"),
        ({"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}, None, 400, "user:"),
        ({"Authorization": "Digest abc"}, None, 400, "HTTP Basic"),
        ({}, {"email": 1, "password": []}, 400, "string fields"),
    ],
)
def test_malformed_credentials_are_precise_errors(client, headers, body, status, detail):
    result = client.simulate_post("/login", headers=headers, json=body)
    assert_problem(result, status, detail)


def fresh_address() -> str:
    """Return a client address of its own, so one test's failures never throttle another's."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def test_wrong_password_and_unknown_user_look_the_same(client, user):
    address = fresh_address()
    wrong = client.simulate_post(
        "/login", headers=basic(user.email, "not the password"), remote_addr=address
    )
    unknown = client.simulate_post(
        "/login", headers=basic("nobody@example.com", "whatever1"), remote_addr=address
    )
    assert_problem(wrong, 401, "wrong e-mail or password")
    assert unknown.json["detail"] == wrong.json["detail"]


def test_repeated_failures_lock_the_account_with_retry_after(client, make_user):
    victim, bystander = make_user(), make_user()
    for _ in range(5):
        client.simulate_post(
            "/login", headers=basic(victim.email, "guess-guess"), remote_addr=fresh_address()
        )
    result = client.simulate_post(
        "/login", headers=basic(victim.email, TEST_PASSWORD), remote_addr=fresh_address()
    )
    assert_problem(result, 429, "too many failed logins")
    assert 0 < int(result.headers["retry-after"]) <= 300
    other = client.simulate_post(
        "/login", headers=basic(bystander.email, TEST_PASSWORD), remote_addr=fresh_address()
    )
    assert other.status_code == 200


def test_one_client_guessing_many_accounts_is_throttled(client, make_user):
    address = fresh_address()
    for _ in range(20):
        client.simulate_post(
            "/login", headers=basic(f"{random.random()}@example.com", "x" * 9), remote_addr=address
        )
    result = client.simulate_post(
        "/login", headers=basic(make_user().email, TEST_PASSWORD), remote_addr=address
    )
    assert_problem(result, 429, "too many failed logins")


def test_disabled_account_cannot_log_in_nor_use_its_token(client, user, auth, sessions):
    with session_scope(sessions) as session:
        disable_user(session, user.email)
    assert_problem(client.simulate_get("/jobs", headers=auth), 401, "disabled")
    result = client.simulate_post(
        "/login", headers=basic(user.email, TEST_PASSWORD), remote_addr=fresh_address()
    )
    assert result.status_code == 401


@pytest.mark.parametrize(
    "header, detail",
    [
        (None, "missing"),
        ("Bearer", "malformed"),
        ("Bearer a.b.c", "malformed"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "algorithm not allowed"),
        ("Token abc", "malformed"),
    ],
)
def test_bad_tokens_are_401_problems(client, header, detail):
    headers = {"Authorization": header} if header else {}
    for method, path in (("POST", "/validate"), ("GET", "/jobs"), ("POST", "/upload")):
        result = client.simulate_request(method, path, headers=headers)
        assert_problem(result, 401, detail)
        assert result.headers["www-authenticate"].startswith("Bearer")


def test_token_from_another_secret_is_rejected(client, services, user):
    from core.tokens import TokenService

    other = TokenService("another-secret-" + "y" * 40, "vid2mp3", "vid2mp3-api", 60)
    token, _ = other.issue(str(user.id))
    result = client.simulate_post("/validate", headers={"Authorization": f"Bearer {token}"})
    assert_problem(result, 401, "signature")


def test_download_link_token_is_not_an_api_token(client, services, user):
    token, _ = services.tokens.issue(str(user.id), audience=DOWNLOAD_AUDIENCE)
    result = client.simulate_get("/jobs", headers={"Authorization": f"Bearer {token}"})
    assert_problem(result, 401, "audience")
