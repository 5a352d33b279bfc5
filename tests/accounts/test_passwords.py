"""Password hashing: argon2id, never raising on garbage, rehash detection and the policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from core.passwords import (
    check_password_policy,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return hash_password(PASSWORD)


def test_hash_is_argon2id_and_verifies(stored_hash):
    assert stored_hash.startswith("$argon2id$v=19$m=65536,t=3,")
    assert PASSWORD not in stored_hash
    assert verify_password(stored_hash, PASSWORD) is True
    assert verify_password(stored_hash, PASSWORD + " ") is False
    assert verify_password(stored_hash, "") is False
    assert needs_rehash(stored_hash) is False


def test_each_hash_has_its_own_salt(stored_hash):
    assert hash_password(PASSWORD) != stored_hash


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=65536,t=3,p=4$not-base64$###",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$",
        "$2b$12$KIXQJ4o6uV2l6Wc9YbHkOe5r0o0Xb7Gxk1b9nV1i2w3e4r5t6y7u8",  # bcrypt
        "x" * 10_000,
        None,
        b"$argon2id$",
        42,
    ],
)
def test_garbage_hash_gives_false_without_raising(garbage):
    assert verify_password(garbage, PASSWORD) is False
    assert needs_rehash(garbage) is True


def test_non_string_password_gives_false(stored_hash):
    assert verify_password(stored_hash, None) is False
    assert verify_password(stored_hash, PASSWORD.encode()) is False


def test_weaker_parameters_need_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert verify_password(weak, PASSWORD) is True
    assert needs_rehash(weak) is True


def test_dummy_hash_costs_like_a_real_one():
    # Same parameters as a stored hash, so checking against it takes the same time.
    assert dummy_hash().startswith("$argon2id$")
    assert needs_rehash(dummy_hash()) is False
    assert verify_dummy(PASSWORD) is False
    assert verify_dummy(None) is False


@pytest.mark.parametrize("password", ["12345678", "x" * 1024, "ünïcødé🔑pw"])
def test_policy_accepts(password):
    check_password_policy(password)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "at least 8 characters"),
        ("1234567", "at least 8 characters"),
        ("x" * 1025, "at most 1024 characters"),
        (None, "must be text"),
    ],
)
def test_policy_refuses_with_a_readable_message(password, message):
    with pytest.raises(ValueError, match=message):
        check_password_policy(password)
