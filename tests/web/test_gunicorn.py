"""The real thing over HTTP: `vid2mp3 users create` and `vid2mp3 serve` under gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from testservices import TEST_SECRET, free_port, wait_for_port

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")


@pytest.fixture
def server_env(mysql_url, mongo_uri, tmp_path):
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": mysql_url,
        "STORAGE_URL": f"{mongo_uri}/gunicorn_{os.getpid()}",
        "BROKER_URL": "stub://",
        "JWT_SECRET": TEST_SECRET,
    }
    return env


@pytest.fixture
def server(server_env):
    port = free_port()
    process = subprocess.Popen(
        [VID2MP3, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output


def test_cli_user_then_seed_walkthrough_over_http(server, server_env, clip):
    email = f"seed-{time.monotonic_ns()}@example.com"
    created = subprocess.run(
        [VID2MP3, "users", "create", email, "--password-stdin"],
        input="password\n",
        env=server_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    # curl -u user@example.com:password -X POST http://localhost:8080/login
    login = requests.post(f"{server}/login", auth=(email, "password"), timeout=10)
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    # curl -X POST -F "file=@video.mp4" -H "Authorization: Bearer ..." http://localhost:8080/upload
    with clip.open("rb") as video:
        uploaded = requests.post(
            f"{server}/upload", files={"file": video}, headers=headers, timeout=30
        )
    assert uploaded.status_code == 202, uploaded.text
    job = requests.get(f"{server}{uploaded.headers['Location']}", headers=headers, timeout=10)
    assert job.json()["state"] == "queued"
    assert requests.get(f"{server}/readyz", timeout=10).json()["status"] == "ready"
    # Two gunicorn workers write multiprocess files; /metrics merges them.
    for _ in range(6):
        requests.get(f"{server}/healthz", timeout=10)
    metrics = requests.get(f"{server}/metrics", timeout=10).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('http_requests_total{method="GET",route="/healthz",status="200"}')
    )
    assert float(line.rsplit(" ", 1)[1]) >= 6


def test_garbage_requests_never_500(server):
    attempts = [
        ("POST", "/upload", {"Authorization": "Bearer x"}, b""),
        ("POST", "/login", {"Content-Type": "application/json"}, b"{not json"),
        ("GET", "/jobs/%00", {}, b""),
        ("DELETE", "/healthz", {}, b""),
    ]
    for method, path, headers, body in attempts:
        result = requests.request(method, server + path, headers=headers, data=body, timeout=10)
        assert 400 <= result.status_code < 500, (method, path, result.status_code, result.text)
        assert result.headers["Content-Type"] == "application/problem+json"
