"""Settings come from the environment with safe defaults; a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings, SettingsError


def test_defaults_are_embedded_and_self_contained(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'vid2mp3.db'}"
    assert settings.storage_url == f"file://{tmp_path / 'blobs'}"
    assert settings.broker_url == "stub://"
    assert settings.embedded
    assert (settings.video_queue, settings.mp3_queue, settings.metrics_port) == (
        "video",
        "mp3",
        9100,
    )


def test_generated_secret_is_kept_and_private(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    secret = settings.signing_secret()
    assert len(secret) >= 32
    assert settings.signing_secret() == secret
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_secret_from_a_mounted_file(tmp_path):
    (tmp_path / "secret").write_text("s" * 40 + "\n")
    settings = Settings.from_env({"JWT_SECRET_FILE": str(tmp_path / "secret")})
    assert settings.signing_secret() == "s" * 40
    assert "s" * 40 not in repr(settings)


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("METRICS_PORT", "http", "METRICS_PORT: expected a whole number"),
        ("METRICS_PORT", "70000", "METRICS_PORT: must be at most 65535"),
        ("MAX_UPLOAD_BYTES", "0", "MAX_UPLOAD_BYTES: must be at least 1"),
        ("BROKER_URL", "kafka://x", "BROKER_URL: expected a URL starting with"),
        ("STORAGE_URL", "s3://bucket", "STORAGE_URL: expected a URL"),
        ("KEEP_VIDEOS", "maybe", "KEEP_VIDEOS: expected true or false"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: expected one of text, json"),
        ("JWT_SECRET", "short", "JWT_SECRET: must be at least 32 characters"),
        ("JWT_SECRET_FILE", "/nonexistent/secret", "JWT_SECRET_FILE: cannot read"),
        ("MAX_DURATION", "long", "MAX_DURATION: expected a number"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY: must be at least 1"),
        ("ROOT_PATH", "vid2mp3", "ROOT_PATH: expected a path such as /vid2mp3"),
        ("ROOT_PATH", "/a//b", "ROOT_PATH: expected a path such as /vid2mp3"),
        ("ROOT_PATH", "/a/../b", "ROOT_PATH: expected a path such as /vid2mp3"),
        ("ROOT_PATH", '/a"b', "ROOT_PATH: expected a path such as /vid2mp3"),
        ("TRUSTED_PROXIES", "10.0.0.1,nginx", "TRUSTED_PROXIES: 'nginx' is not an IP address"),
        ("TRUSTED_PROXIES", "10.0.0.1/8", "TRUSTED_PROXIES: '10.0.0.1/8' is not an IP address"),
        ("WORKER_PRUNE_SECONDS", "0", "WORKER_PRUNE_SECONDS: must be at least 1"),
    ],
)
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert str(raised.value).startswith(message)


def test_backoff_bounds_must_be_ordered():
    with pytest.raises(SettingsError, match="RETRY_MIN_BACKOFF_MS"):
        Settings.from_env({"RETRY_MIN_BACKOFF_MS": "10", "RETRY_MAX_BACKOFF_MS": "5"})


def test_the_prefix_comes_from_root_path_or_public_url_and_both_agree():
    by_root = Settings.from_env({"ROOT_PATH": "/tools/vid2mp3/", "PUBLIC_URL": "https://x.org"})
    assert (by_root.root_path, by_root.public_url) == (
        "/tools/vid2mp3",
        "https://x.org/tools/vid2mp3",
    )
    by_url = Settings.from_env({"PUBLIC_URL": "https://x.org/vid2mp3/"})
    assert (by_url.root_path, by_url.public_url) == ("/vid2mp3", "https://x.org/vid2mp3")
    assert Settings.from_env({"ROOT_PATH": "/"}).root_path == ""
    with pytest.raises(SettingsError, match="ROOT_PATH: '/a' differs from PUBLIC_URL's path '/b'"):
        Settings.from_env({"ROOT_PATH": "/a", "PUBLIC_URL": "https://x.org/b"})


def test_trusted_proxies_are_addresses_networks_or_anyone():
    settings = Settings.from_env({"TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,127.0.0.1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1", "127.0.0.1")
    assert Settings.from_env({}).trusted_proxies == ()
    assert Settings.from_env({"TRUSTED_PROXIES": "*"}).trusted_proxies == ("*",)


def test_gone_workers_are_pruned_only_after_they_show_as_gone():
    with pytest.raises(SettingsError, match="WORKER_PRUNE_SECONDS: must exceed"):
        Settings.from_env({"WORKER_GONE_SECONDS": "120", "WORKER_PRUNE_SECONDS": "90"})


def test_command_line_reports_a_bad_setting_in_one_line(tmp_path):
    vid2mp3 = Path(sys.executable).parent / "vid2mp3"
    result = subprocess.run(
        [vid2mp3, "migrate"],
        env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "METRICS_PORT": "-1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr == "vid2mp3: configuration error: METRICS_PORT: must be at least 1, got -1\n"
    )


def test_single_sign_on_settings(tmp_path):
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).oidc_issuer is None
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "OIDC_ISSUER": "https://id.example.com/realms/main/",
            "OIDC_CLIENT_ID": "vid2mp3",
            "OIDC_ALLOWED_DOMAINS": "Example.com, @corp.example ,",
            "OIDC_ADMIN_CLAIM": "roles",
            "OIDC_ADMIN_VALUE": "admin",
        }
    )
    assert settings.oidc_issuer == "https://id.example.com/realms/main"
    assert settings.oidc_allowed_domains == ("example.com", "corp.example")
    assert (settings.oidc_admin_claim, settings.oidc_admin_value) == ("roles", "admin")
    assert settings.oidc_client_secret is None
    with pytest.raises(SettingsError, match="OIDC_CLIENT_ID: required"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "OIDC_ISSUER": "https://id.example.com"})
    with pytest.raises(SettingsError, match="OIDC_CLIENT_SECRET: must be at least 32"):
        Settings.from_env(
            {"OIDC_ISSUER": "https://id.example.com", "OIDC_CLIENT_ID": "x"}
            | {"OIDC_CLIENT_SECRET": "short"}
        )
