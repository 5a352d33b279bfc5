"""Accounts over a session: creation rules, look-ups, authentication and the first admin."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

import core.accounts as accounts
from core.accounts import (
    AccountError,
    authenticate,
    create_user,
    disable_user,
    enable_user,
    get_user_by_email,
    list_users,
    set_password,
)
from core.models import User
from core.passwords import needs_rehash, verify_password

PASSWORD = "correct horse battery staple"


def test_create_user_normalises_and_hashes(session, email):
    user = create_user(session, f"  {email.upper()} ", PASSWORD)
    assert user.id is not None
    assert user.email == email
    assert user.is_admin is False and user.is_active is True
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert get_user_by_email(session, email.upper()) is user
    assert user in list_users(session)


def test_create_admin(session, email):
    assert create_user(session, email, PASSWORD, is_admin=True).is_admin is True


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "plain",
        "@example.com",
        "user@",
        "a@b@c.com",
        "us er@example.com",
        "user@.com",
        "user@example.",
        "user@exa..mple.com",
        "x" * 250 + "@example.com",
        None,
    ],
)
def test_create_user_refuses_bad_emails(session, bad):
    with pytest.raises(AccountError):
        create_user(session, bad, PASSWORD)


def test_local_domain_is_accepted(session):
    assert create_user(session, "Admin@LocalHost", PASSWORD).email == "admin@localhost"


@pytest.mark.parametrize(
    ("password", "message"), [("short", "at least 8"), ("x" * 1025, "at most")]
)
def test_create_user_refuses_bad_passwords(session, email, password, message):
    with pytest.raises(AccountError, match=message):
        create_user(session, email, password)
    assert get_user_by_email(session, email) is None


def test_duplicate_email_is_refused_whatever_its_case(session, email):
    create_user(session, email, PASSWORD)
    with pytest.raises(AccountError, match=r"^an account with this e-mail already exists$"):
        create_user(session, f" {email.upper()}", "another password")


def test_duplicate_created_concurrently_is_an_account_error(
    session, db_sessions, email, monkeypatch
):
    with db_sessions() as other:
        create_user(other, email, PASSWORD)
        other.commit()
    try:
        # This session has not seen the other's row: the unique index is what stops it.
        monkeypatch.setattr(accounts, "get_user_by_email", lambda *_: None)
        with pytest.raises(AccountError, match="already exists"):
            create_user(session, email, PASSWORD)
    finally:
        monkeypatch.undo()
        with db_sessions() as other:
            other.delete(get_user_by_email(other, email))
            other.commit()


def test_authenticate(session, email):
    user = create_user(session, email, PASSWORD)
    assert authenticate(session, email.upper(), PASSWORD) is user
    assert authenticate(session, email, PASSWORD + "!") is None
    assert authenticate(session, email, "") is None
    assert authenticate(session, email, "x" * 100_000) is None
    assert authenticate(session, email, None) is None


def test_unknown_email_costs_a_dummy_check(session, email, monkeypatch):
    calls = []
    monkeypatch.setattr(accounts, "verify_dummy", lambda pw: calls.append(pw) or False)
    assert authenticate(session, email, PASSWORD) is None
    assert authenticate(session, "not an e-mail", PASSWORD) is None
    assert calls == [PASSWORD, PASSWORD]


def test_disabled_user_cannot_log_in(session, email):
    create_user(session, email, PASSWORD)
    assert disable_user(session, email).is_active is False
    assert authenticate(session, email, PASSWORD) is None
    enable_user(session, email)
    assert authenticate(session, email, PASSWORD) is not None


def test_old_hash_is_upgraded_on_login(session, email):
    user = create_user(session, email, PASSWORD)
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    session.flush()
    assert needs_rehash(user.password_hash)
    assert authenticate(session, email, PASSWORD) is user
    session.expire_all()
    stored = session.get(User, user.id).password_hash
    assert not needs_rehash(stored) and verify_password(stored, PASSWORD)


def test_set_password(session, email):
    create_user(session, email, PASSWORD)
    set_password(session, email.upper(), "a brand new password")
    assert authenticate(session, email, PASSWORD) is None
    assert authenticate(session, email, "a brand new password") is not None
    with pytest.raises(AccountError, match="at least 8"):
        set_password(session, email, "short")


@pytest.mark.parametrize("change", [set_password, disable_user, enable_user])
def test_changing_an_unknown_account(session, email, change):
    args = (session, email, PASSWORD) if change is set_password else (session, email)
    with pytest.raises(AccountError, match="no account"):
        change(*args)
