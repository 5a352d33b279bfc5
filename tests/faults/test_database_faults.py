"""A hung or vanished database: bounded 503s with Retry-After, liveness unaffected, recovery.

The web process is a real `vid2mp3 serve` whose DATABASE_URL goes through a fault proxy in
front of this run's MariaDB, so the outage is a real one at the TCP level.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import make_url

from faultproxy import FaultProxy
from testservices import TEST_PASSWORD, TEST_SECRET, free_port, wait_for_port

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")
DATABASE_TIMEOUT = 2
# A bound, not a benchmark: a request that waits this long is hung (it answered within
# DATABASE_TIMEOUT twice over, a reconnect included, when it worked).
HUNG = 20


@pytest.fixture
def database_proxy(mysql_url):
    url = make_url(mysql_url)
    proxy = FaultProxy(url.host, url.port or 3306)
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


@pytest.fixture
def web(database_proxy, mongo_uri, tmp_path):
    proxy, database_url = database_proxy
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url,
        "DATABASE_TIMEOUT": str(DATABASE_TIMEOUT),
        "STORAGE_URL": f"{mongo_uri}/faults_{os.getpid()}",
        "BROKER_URL": "stub://",
        "JWT_SECRET": TEST_SECRET,
    }
    process = subprocess.Popen(
        [VID2MP3, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proxy.restore()
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output


def _login(base: str, user) -> dict:
    answer = requests.post(f"{base}/login", auth=(user.email, TEST_PASSWORD), timeout=HUNG)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.mark.parametrize("fault", ["pause", "cut"])
def test_database_outage_gives_503_and_liveness_stays_up(web, database_proxy, make_user, fault):
    proxy, _ = database_proxy
    user = make_user()
    auth = _login(web, user)
    assert requests.get(f"{web}/jobs", headers=auth, timeout=HUNG).status_code == 200

    getattr(proxy, fault)()
    # More requests at once than the worker has threads (8), so some wait for a free one.
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        jobs = [
            pool.submit(requests.get, f"{web}/jobs", headers=auth, timeout=HUNG) for _ in range(10)
        ]
        login = pool.submit(
            requests.post, f"{web}/login", auth=(user.email, TEST_PASSWORD), timeout=HUNG
        )
        liveness = requests.get(f"{web}/healthz", timeout=HUNG)
        answers = [job.result() for job in jobs] + [login.result()]
    assert liveness.status_code == 200
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"]
        assert answer.json()["detail"] == "the database is unavailable, try again shortly"
    ready = requests.get(f"{web}/readyz", timeout=HUNG)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "down"

    proxy.restore()
    deadline = time.monotonic() + 30
    while requests.get(f"{web}/jobs", headers=auth, timeout=HUNG).status_code != 200:
        assert time.monotonic() < deadline, "the web process did not recover within 30 s"
        time.sleep(0.5)
    assert requests.get(f"{web}/readyz", timeout=HUNG).status_code == 200
