"""`vid2mp3 serve` under gunicorn over real HTTP: merged metrics, no 500 for garbage."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_metrics_are_merged_across_gunicorn_workers(server):
    # The seed's walk-through over gunicorn is in tests/e2e; here: two workers write
    # prometheus multiprocess files and /metrics merges them.
    for _ in range(6):
        assert requests.get(f"{server}/healthz", timeout=10).status_code == 200
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
