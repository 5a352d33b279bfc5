"""Fixtures for fault tests: a real `vid2mp3 serve` on this run's services, proxies in front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faultproxy import FaultProxy
from testservices import TEST_SECRET, free_port, wait_for_port

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")


@pytest.fixture
def fault_proxies():
    """Return proxy(host, port) -> a FaultProxy, all restored and closed after the test."""
    proxies = []

    def proxy(host: str, port: int) -> FaultProxy:
        proxies.append(FaultProxy(host, port))
        return proxies[-1]

    yield proxy
    for each in proxies:
        each.close()


@pytest.fixture
def start_web(mysql_url, mongo_uri, tmp_path):
    """Return start(**env) -> base URL of a `vid2mp3 serve --workers 1` on the run's services."""
    processes = []

    def start(**env: str) -> str:
        port = free_port()
        environ = {
            **os.environ,
            "DATA_DIR": str(tmp_path / "var"),
            "DATABASE_URL": mysql_url,
            "STORAGE_URL": f"{mongo_uri}/faults_{os.getpid()}",
            "BROKER_URL": "stub://",
            "JWT_SECRET": TEST_SECRET,
            **env,
        }
        processes.append(
            subprocess.Popen(
                [VID2MP3, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                env=environ,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        wait_for_port(port, timeout=30)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert "Traceback" not in output, output
