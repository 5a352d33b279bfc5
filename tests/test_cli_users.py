"""`vid2mp3 users ...` manages accounts in the configured database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from core.accounts import authenticate
from core.db import session_scope

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")


def users(mysql_url, *args, password=None):
    return subprocess.run(
        [VID2MP3, "users", *args],
        input=None if password is None else password + "\n",
        env={**os.environ, "DATABASE_URL": mysql_url},
        capture_output=True,
        text=True,
        check=False,
    )


def test_create_list_set_password_disable(mysql_url, sessions):
    email = f"cli-{uuid.uuid4().hex[:10]}@example.com"
    created = users(
        mysql_url, "create", email, "--admin", "--password-stdin", password="first pass"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout == f"created admin {email}\n"
    duplicate = users(mysql_url, "create", email, "--password-stdin", password="first pass")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    changed = users(mysql_url, "set-password", email, "--password-stdin", password="second pass")
    assert changed.returncode == 0, changed.stderr
    with session_scope(sessions) as session:
        assert authenticate(session, email, "first pass") is None
        assert authenticate(session, email, "second pass") is not None
    assert users(mysql_url, "disable", email).returncode == 0
    listed = users(mysql_url, "list").stdout.splitlines()
    (line,) = [line for line in listed if line.startswith(email + "\t")]
    assert line.split("\t")[1] == "admin,disabled"


def test_short_password_and_unknown_account_are_clear_errors(mysql_url):
    short = users(mysql_url, "create", "x@example.com", "--password-stdin", password="short")
    assert short.returncode == 1
    assert "at least 8" in short.stderr
    missing = users(mysql_url, "disable", "nobody-at-all@example.com")
    assert missing.returncode == 1
    assert missing.stderr.startswith("vid2mp3: ")


def test_database_failures_are_one_line_naming_the_fix(mysql_url, tmp_path):
    server = mysql_url.rsplit("/", 1)[0]
    cases = {
        "mysql+pymysql://root@127.0.0.1:1/x": "cannot reach the database server at 127.0.0.1:1",
        f"{server}/no_such_db_{uuid.uuid4().hex[:6]}": "does not exist: create it",
        f"sqlite:///{tmp_path / 'empty.db'}": "lacks the vid2mp3 schema: run `vid2mp3 migrate`",
    }
    for url, expected in cases.items():
        result = users(url, "list")
        assert result.returncode == 1, url
        assert result.stderr.startswith("vid2mp3: "), result.stderr
        assert expected in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    migrate = subprocess.run(
        [VID2MP3, "migrate"],
        env={**os.environ, "DATABASE_URL": "mysql+pymysql://root@127.0.0.1:1/x"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 1
    assert migrate.stderr.splitlines() == [
        "vid2mp3: cannot reach the database server at 127.0.0.1:1: is it running?"
        " check DATABASE_URL"
    ]
