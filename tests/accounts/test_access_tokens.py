"""Personal access tokens: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from core import access_tokens
from core.access_tokens import TokenRequestError, authenticate_token, create_token
from core.accounts import create_user, disable_user
from core.models import utcnow
from core.tokens import InvalidToken
from testservices import TEST_PASSWORD


@pytest.fixture
def owner(session, email):
    return create_user(session, email, TEST_PASSWORD)


def refused(session, plaintext: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        authenticate_token(session, plaintext)
    assert caught.value.reason == reason


def test_create_stores_only_the_hash_and_authenticates(session, owner):
    token, plaintext = create_token(session, owner, " laptop ", ["upload", "read"])
    assert plaintext.startswith("vid2mp3_pat_") and len(plaintext) == len("vid2mp3_pat_") + 43
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (token.hint, token.token_hash, token.name)
    assert plaintext.startswith(token.hint) and len(token.hint) == len("vid2mp3_pat_") + 4
    assert (token.name, token.scopes, token.expires_at) == ("laptop", "read upload", None)
    assert token.last_used_at is None
    user, scopes = authenticate_token(session, plaintext)
    assert user.id == owner.id
    assert scopes == {"read", "upload"}
    assert token.last_used_at is not None


def test_each_token_is_different(session, owner):
    first = create_token(session, owner, "a", ["read"])[1]
    assert first != create_token(session, owner, "b", ["read"])[1]


def test_last_used_is_written_at_most_once_a_minute(session, owner):
    token, plaintext = create_token(session, owner, "ci", ["read"])
    authenticate_token(session, plaintext)
    first = token.last_used_at
    authenticate_token(session, plaintext)
    assert token.last_used_at == first
    token.last_used_at = first - dt.timedelta(minutes=2)
    authenticate_token(session, plaintext)
    assert token.last_used_at > first


def test_revoked_token_no_longer_works(session, owner, email):
    token, plaintext = create_token(session, owner, "ci", ["read"])
    stranger = create_user(session, "other-" + email, TEST_PASSWORD)
    assert not access_tokens.revoke_token(session, stranger.id, token.id)
    assert access_tokens.revoke_token(session, owner.id, token.id)
    assert not access_tokens.revoke_token(session, owner.id, token.id)
    refused(session, plaintext, "unknown or revoked personal access token")


def test_expired_token_is_refused(session, owner):
    token, plaintext = create_token(
        session, owner, "ci", ["read"], expires_at=utcnow() + dt.timedelta(days=1)
    )
    assert authenticate_token(session, plaintext)[0].id == owner.id
    token.expires_at = utcnow() - dt.timedelta(seconds=1)
    refused(session, plaintext, "personal access token expired")


def test_disabled_owner_token_is_refused(session, owner):
    _, plaintext = create_token(session, owner, "ci", ["read"])
    disable_user(session, owner.email)
    refused(session, plaintext, "account is disabled or no longer exists")


@pytest.mark.parametrize(
    "plaintext",
    ["vid2mp3_pat_short", "vid2mp3_pat_" + "a" * 42 + "!", "vid2mp3_pat_" + "a" * 44],
)
def test_malformed_token_is_refused(session, plaintext):
    refused(session, plaintext, "malformed personal access token")


def test_well_formed_unknown_token_is_refused(session):
    refused(session, "vid2mp3_pat_" + "a" * 43, "unknown or revoked personal access token")


@pytest.mark.parametrize(
    ("name", "scopes", "message"),
    [
        ("", ["read"], "name must be"),
        ("x" * 101, ["read"], "name must be"),
        ("ci", [], "non-empty list"),
        ("ci", "read", "non-empty list"),
        ("ci", ["read", "admin"], "unknown scope 'admin'"),
    ],
)
def test_bad_requests_are_refused(session, owner, name, scopes, message):
    with pytest.raises(TokenRequestError, match=message):
        create_token(session, owner, name, scopes)


def test_expiry_in_the_past_is_refused(session, owner):
    with pytest.raises(TokenRequestError, match="future"):
        create_token(session, owner, "ci", ["read"], expires_at=utcnow())


def test_tokens_per_user_are_limited(session, owner, monkeypatch):
    monkeypatch.setattr(access_tokens, "MAX_TOKENS_PER_USER", 2)
    create_token(session, owner, "a", ["read"])
    create_token(session, owner, "b", ["read"])
    with pytest.raises(TokenRequestError, match="at most 2 tokens"):
        create_token(session, owner, "c", ["read"])


def test_list_is_newest_first_and_only_the_owners(session, owner, email):
    older, _ = create_token(session, owner, "older", ["read"])
    older.created_at = utcnow() - dt.timedelta(hours=1)
    create_token(session, owner, "newer", ["upload"])
    stranger = create_user(session, "other-" + email, TEST_PASSWORD)
    create_token(session, stranger, "theirs", ["read"])
    names = [token.name for token in access_tokens.list_tokens(session, owner.id)]
    assert names == ["newer", "older"]
