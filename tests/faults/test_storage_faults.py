"""A hung or vanished MongoDB (GridFS): uploads answer 503 and keep nothing; then recovery.

`vid2mp3 serve` reaches this run's MongoDB-wire server through a fault proxy.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests

from faultproxy import HUNG, login


@pytest.mark.parametrize("fault", ["pause", "cut"])
def test_storage_outage_refuses_uploads_and_keeps_nothing(
    start_web, fault_proxies, mongo_uri, make_user, clip, fault
):
    server = urlsplit(mongo_uri)
    proxy = fault_proxies(server.hostname, server.port)
    web = start_web(
        STORAGE_URL=f"mongodb://127.0.0.1:{proxy.port}/faults_{fault}?socketTimeoutMS=2000"
    )
    auth = login(web, make_user())

    def upload():
        with clip.open("rb") as video:
            files = {"file": ("clip.mp4", video, "video/mp4")}
            return requests.post(f"{web}/upload", files=files, headers=auth, timeout=HUNG)

    getattr(proxy, fault)()
    refused = upload()
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"]
    assert refused.json()["detail"] == "the file store is unavailable, try again shortly"
    assert requests.get(f"{web}/healthz", timeout=HUNG).status_code == 200
    assert requests.get(f"{web}/readyz", timeout=HUNG).json()["checks"]["storage"] == "down"
    assert requests.get(f"{web}/jobs", headers=auth, timeout=HUNG).json()["items"] == []

    proxy.restore()
    deadline = time.monotonic() + 30
    while (accepted := upload()).status_code == 503:
        assert time.monotonic() < deadline, "uploads did not recover within 30 s"
        time.sleep(0.5)
    assert accepted.status_code == 202, accepted.text
    assert len(requests.get(f"{web}/jobs", headers=auth, timeout=HUNG).json()["items"]) == 1
