"""Run the real Prometheus (Debian's) against a live web process and worker after a few jobs.

The shipped scrape config (deploy/prometheus/prometheus.yml) is rewritten to point its `web` and
`converter` jobs at this test's processes, scraped every second, with the shipped alert rules.
Then every Grafana panel's query and every alert expression must evaluate through Prometheus'
HTTP API without an error, and the job panels (jobs by state, wait time, dead-letter depth)
must return data.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
import pytest
import requests
import yaml
from dramatiq import Message
from dramatiq.common import xq_name

from core.accounts import create_user
from core.db import make_engine, make_sessions, session_scope
from core.states import JobState
from testservices import (
    TEST_PASSWORD,
    TEST_SECRET,
    delete_rabbitmq_queues,
    free_port,
    unavailable,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "vid2mp3.json"
VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")
JOBS = 3
# The dashboard's job panels, which must show data after a few jobs.
JOB_PANELS = (
    "Jobs by state",
    "Unfinished jobs by state",
    "Wait time, queued to conversion start (p50, p95)",
    "Dead-letter queue depth",
)


def prometheus_config(tmp_path: Path, targets: dict[str, str]) -> Path:
    """Return the shipped config with static `targets` per job, scraped every second."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / name) for name in config["rule_files"]]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job.pop("dns_sd_configs", None)
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
            jobs.append(job)
    assert {job["job_name"] for job in jobs} == set(targets)
    config["scrape_configs"] = jobs
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def database(own_mysql_url):
    """Return a MariaDB database of this test alone (see `own_mysql_url`), with one user."""
    engine = make_engine(own_mysql_url)
    try:
        with session_scope(make_sessions(engine)) as session:
            create_user(session, "prometheus@example.com", TEST_PASSWORD)
        yield own_mysql_url, "prometheus@example.com"
    finally:
        engine.dispose()


@pytest.fixture
def queues(rabbitmq_url):
    """Return this test's private queue names; delete them after the worker has stopped."""
    tag = uuid.uuid4().hex[:10]
    names = (f"prom-video-{tag}", f"prom-mp3-{tag}")
    yield names
    delete_rabbitmq_queues(rabbitmq_url, list(names))


@pytest.fixture
def prometheus(tmp_path):
    """Return start(targets) -> base URL of a Prometheus scraping `targets` ({job: host:port})."""
    binary = shutil.which("prometheus")
    if not binary:
        unavailable("Prometheus", "install Debian's prometheus (bin/ensure-services does)")
    started = []

    def start(targets: dict[str, str]) -> str:
        port = free_port()
        args = [
            binary,
            f"--config.file={prometheus_config(tmp_path, targets)}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        started.append(spawn(args, os.environ, tmp_path / "prometheus.log"))
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(f"{base}/-/ready").status_code == 200, "Prometheus is ready")
        return base

    yield start
    for process in started:
        stop(process, tmp_path / "prometheus.log")


@pytest.fixture
def worker(tmp_path):
    """Return start(env) -> the `vid2mp3 worker` group's metrics address (host:port)."""
    started = []

    def start(env: dict) -> str:
        port = free_port()
        args = [VID2MP3, "worker", "--processes", "1", "--threads", "2"]
        started.append(spawn(args, {**env, "METRICS_PORT": str(port)}, tmp_path / "worker.log"))
        wait_for_port(port, timeout=60)
        return f"127.0.0.1:{port}"

    yield start
    for process in started:
        stop(process, tmp_path / "worker.log")


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a process whose output goes to `log`."""
    with log.open("w") as output:
        return subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, log: Path) -> None:
    """Stop a process (killed if it lingers) and print its log, which pytest shows on failure."""
    process.terminate()
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    print(f"--- {log.name} (exit {process.returncode}) ---\n{log.read_text()[-5000:]}")


def _get(url: str, **params) -> requests.Response:
    try:
        return requests.get(url, params=params, timeout=10)
    except requests.ConnectionError:
        return requests.Response()  # status_code None: not up yet


def wait_until(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def query(base: str, expr: str) -> list[dict]:
    """Evaluate `expr` now; fail on any error or warning Prometheus reports."""
    answer = _get(f"{base}/api/v1/query", query=expr)
    body = answer.json()
    assert body["status"] == "success", (expr, body)
    assert not body.get("warnings"), (expr, body["warnings"])
    return body["data"]["result"]


def has_value(result: list[dict]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    # What Grafana puts for $__rate_interval: at least four scrape intervals (here 1 s).
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "30s"))
        for panel in panels
        for target in panel["targets"]
    ]


def alert_rules() -> list[dict]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def run_jobs(base: str, user_email: str, clip: Path, count: int) -> None:
    login = requests.post(
        f"{base}/login", json={"email": user_email, "password": TEST_PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    ids = []
    for _ in range(count):
        with clip.open("rb") as stream:
            answer = requests.post(
                f"{base}/upload", files={"file": stream}, headers=headers, timeout=60
            )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])

    def finished() -> bool:
        states = [
            requests.get(f"{base}/jobs/{i}", headers=headers, timeout=10).json()["state"]
            for i in ids
        ]
        assert "failed" not in states, states
        return all(state == "done" for state in states)

    wait_until(finished, f"{count} jobs are done", timeout=120)


def dead_letter(rabbitmq_url: str, queue: str) -> None:
    """Put one message in the queue's dead letters, where Dramatiq's RabbitMQ broker keeps them."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        message = Message(queue, "convert", ("0" * 32,), {}, {})
        connection.channel().basic_publish("", xq_name(queue), message.encode())
    finally:
        connection.close()


def test_dashboard_and_alerts_evaluate_on_live_metrics(
    database, queues, start_web, worker, prometheus, clip, mongo_uri, rabbitmq_url, tmp_path
):
    database_url, user = database
    video_queue, mp3_queue = queues
    env = {
        "DATA_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url,
        "STORAGE_URL": f"{mongo_uri}/{video_queue.replace('-', '_')}",
        "BROKER_URL": rabbitmq_url,
        "VIDEO_QUEUE": video_queue,
        "MP3_QUEUE": mp3_queue,
        "JWT_SECRET": TEST_SECRET,
        "TMPDIR": str(tmp_path),
    }
    web = start_web(**env)
    worker_address = worker({**os.environ, **env})
    base = prometheus({"web": web.removeprefix("http://"), "converter": worker_address})

    def scraped() -> bool:
        targets = _get(f"{base}/api/v1/targets").json()["data"]["activeTargets"]
        # The worker exports its histograms at 0 before any job, so rate() sees the jobs.
        return (
            len(targets) == 2
            and all(t["health"] == "up" for t in targets)
            and bool(query(base, "converter_wait_seconds_count"))
        )

    wait_until(scraped, "Prometheus scrapes the web process and the worker")
    run_jobs(web, user, clip, JOBS)
    dead_letter(rabbitmq_url, video_queue)
    wait_until(
        lambda: (
            has_value(query(base, f"sum(converter_wait_seconds_count) >= {JOBS}"))
            and has_value(
                query(base, f'vid2mp3_queue_messages{{queue="{video_queue}",kind="dead"}} == 1')
            )
        ),
        "Prometheus has the jobs and the dead letter",
    )

    results = {}
    for title, expr in dashboard_queries():
        results.setdefault(title, []).extend(query(base, expr))
    for title in JOB_PANELS:
        assert has_value(results[title]), f"the panel {title!r} shows no data"
    dead = {s["metric"]["queue"]: s["value"][1] for s in results["Dead-letter queue depth"]}
    assert dead[video_queue] == "1"
    by_state = {s["metric"]["state"]: s["value"][1] for s in results["Jobs by state"]}
    assert by_state == {state.value: str(JOBS if state == "done" else 0) for state in JobState}
    # One wait per job (its first conversion attempt), each shorter than the test.
    (waits,) = query(base, "sum(converter_wait_seconds_count)")
    assert waits["value"][1] == str(JOBS)
    assert has_value(query(base, "max(converter_wait_seconds_sum) < 120"))

    for rule in alert_rules():
        query(base, rule["expr"])

    def rules_evaluated() -> bool:
        groups = _get(f"{base}/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) == len(alert_rules())
        for rule in rules:
            assert rule["health"] != "err", rule
        return all(rule["health"] == "ok" for rule in rules)

    wait_until(rules_evaluated, "Prometheus has evaluated every alert rule")
