"""A hung or vanished database: bounded 503s with Retry-After, liveness unaffected, recovery.

The web process is a real `vid2mp3 serve` whose DATABASE_URL goes through a fault proxy in
front of this run's MariaDB, so the outage is a real one at the TCP level.
"""

from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests
from sqlalchemy import make_url

from faultproxy import HUNG, login
from testservices import TEST_PASSWORD


@pytest.mark.parametrize("fault", ["pause", "cut"])
def test_database_outage_gives_503_and_liveness_stays_up(
    start_web, fault_proxies, mysql_url, make_user, fault
):
    url = make_url(mysql_url)
    proxy = fault_proxies(url.host, url.port or 3306)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port)
    web = start_web(
        DATABASE_URL=through_proxy.render_as_string(hide_password=False), DATABASE_TIMEOUT="2"
    )
    user = make_user()
    auth = login(web, user)
    assert requests.get(f"{web}/jobs", headers=auth, timeout=HUNG).status_code == 200

    getattr(proxy, fault)()
    # More requests at once than the worker has threads (8), so some wait for a free one.
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        jobs = [
            pool.submit(requests.get, f"{web}/jobs", headers=auth, timeout=HUNG) for _ in range(10)
        ]
        again = pool.submit(
            requests.post, f"{web}/login", auth=(user.email, TEST_PASSWORD), timeout=HUNG
        )
        liveness = requests.get(f"{web}/healthz", timeout=HUNG)
        answers = [job.result() for job in jobs] + [again.result()]
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
