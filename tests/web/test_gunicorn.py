"""`vid2mp3 serve` under gunicorn over real HTTP: merged metrics, no 500 for garbage."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture
def server(start_web):
    """A `vid2mp3 serve` with two gunicorn workers (the shared fixture checks for tracebacks)."""
    return start_web(workers=2)


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


def test_gunicorn_with_script_name_serves_under_that_prefix(start_web):
    server = start_web(SCRIPT_NAME="/mounted")
    answer = requests.get(f"{server}/mounted/", allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/mounted/sign-in?next=/"
    page = requests.get(f"{server}/mounted/sign-in", timeout=10)
    assert 'action="/mounted/sign-in"' in page.text
    assert requests.get(f"{server}/mounted/openapi.json", timeout=10).json()["servers"] == [
        {"url": "/mounted"}
    ]
