"""The seed's walk-through end to end, over real HTTP, in both deployment shapes.

Production shape: `vid2mp3 serve` (gunicorn) and `vid2mp3 worker` as separate processes over
RabbitMQ, MariaDB, secantusdb and a real SMTP server. Embedded shape: `vid2mp3 run` alone.
Each logs in with HTTP Basic, uploads with multipart `file`, waits for the job, downloads with
`?fid=`, checks the MP3, and follows the link from the e-mail without a bearer header.
"""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from conversion import probe
from media import decoded_md5, make_clip
from smtpbox import running_mailbox
from testservices import TEST_SECRET, free_port, wait_for_port

VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")
PASSWORD = "password"
LINK = re.compile(r"https?://\S+/d/[A-Za-z0-9_.\-]+")


class Processes:
    """Start service processes; stop them all (and show their output on failure) at the end."""

    def __init__(self) -> None:
        self._started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        process = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._started.append((name, process))
        return process

    def stop(self) -> str:
        outputs = []
        for name, process in reversed(self._started):
            process.terminate()
            try:
                output, _ = process.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            outputs.append(f"--- {name} (exit {process.returncode}) ---\n{output}")
        return "\n".join(outputs)


@pytest.fixture
def processes():
    started = Processes()
    yield started
    print(started.stop())


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("e2e") / "my video.mp4", seconds=3)


def walk_through(base: str, user: str, video: Path, tmp_path: Path) -> dict:
    """Do what the seed's README did with curl; return the finished job."""
    login = requests.post(f"{base}/login", auth=(user, PASSWORD), timeout=10)
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    with video.open("rb") as stream:
        uploaded = requests.post(
            f"{base}/upload", files={"file": stream}, headers=headers, timeout=60
        )
    assert uploaded.status_code == 202, uploaded.text
    job_id = uploaded.json()["id"]
    deadline = time.monotonic() + 120
    while True:
        job = requests.get(f"{base}/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["state"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert job["state"] == "done", job
    download = requests.get(f"{base}/download", params={"fid": job_id}, headers=headers, timeout=60)
    assert download.status_code == 200
    assert 'filename="my video.mp3"' in download.headers["Content-Disposition"]
    mp3 = tmp_path / "downloaded.mp3"
    mp3.write_bytes(download.content)
    info = probe(mp3)
    assert info.audio_streams[0].codec == "mp3"
    assert info.duration == pytest.approx(3.0, abs=0.15)
    job["mp3_bytes"] = download.content
    return job


def follow_link(mail: email.message.Message, expected: bytes) -> None:
    body = next(
        part.get_payload(decode=True).decode()
        for part in mail.walk()
        if part.get_content_type() == "text/plain"
    )
    (link,) = set(LINK.findall(body))
    result = requests.get(link, timeout=10)  # no bearer header: the link is the credential
    assert result.status_code == 200, result.text
    assert result.content == expected


def create_user(env: dict, email_address: str) -> None:
    subprocess.run(
        [VID2MP3, "users", "create", email_address, "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def submit(port: int, video: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """Run `vid2mp3 submit` against the local server; no terminal, so nothing is prompted."""
    return subprocess.run(
        [VID2MP3, "submit", str(video), "--url", f"http://127.0.0.1:{port}", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_shape_gunicorn_and_worker_over_rabbitmq(
    processes, own_mysql_url, mongo_uri, rabbitmq_url, video, tmp_path
):
    tag = uuid.uuid4().hex[:10]
    web_port = free_port()
    with running_mailbox() as (mailbox, smtp_port):
        env = {
            **os.environ,
            "DATA_DIR": str(tmp_path / "var"),
            "DATABASE_URL": own_mysql_url,
            "STORAGE_URL": f"{mongo_uri}/e2e_{tag}",
            "BROKER_URL": rabbitmq_url,
            "VIDEO_QUEUE": f"e2e-video-{tag}",
            "MP3_QUEUE": f"e2e-mp3-{tag}",
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "JWT_SECRET": TEST_SECRET,
            "METRICS_PORT": str(free_port()),
            "TMPDIR": str(tmp_path),
        }
        user = f"e2e-{tag}@example.com"
        create_user(env, user)
        processes.start(
            "web",
            [VID2MP3, "serve", "--host", "127.0.0.1", "--port", str(web_port), "--workers", "1"],
            env,
        )
        processes.start("worker", [VID2MP3, "worker", "--processes", "1", "--threads", "2"], env)
        wait_for_port(web_port, timeout=30)
        ready = requests.get(f"http://127.0.0.1:{web_port}/readyz", timeout=10).json()
        assert ready["checks"] == {"database": "ok", "storage": "ok", "broker": "ok"}
        job = walk_through(f"http://127.0.0.1:{web_port}", user, video, tmp_path)
        deadline = time.monotonic() + 30
        while not mailbox.for_job(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        (mail,) = mailbox.for_job(job["id"])
        assert mail["To"] == user
        follow_link(mail, job["mp3_bytes"])


def test_embedded_shape_in_one_process(processes, video, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "var"),
        "ADMIN_EMAIL": "user@example.com",
        "ADMIN_PASSWORD": PASSWORD,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TMPDIR": str(tmp_path),
    }
    for name in ("DATABASE_URL", "STORAGE_URL", "BROKER_URL", "SMTP_URL", "JWT_SECRET"):
        env.pop(name, None)
    processes.start("run", [VID2MP3, "run", "--port", str(port)], env)
    wait_for_port(port, timeout=30)
    job = walk_through(f"http://127.0.0.1:{port}", "user@example.com", video, tmp_path)
    outbox = tmp_path / "var" / "outbox"
    deadline = time.monotonic() + 30
    while not list(outbox.glob(f"{job['id']}*.eml")) and time.monotonic() < deadline:
        time.sleep(0.2)
    (saved,) = outbox.glob(f"{job['id']}*.eml")
    follow_link(email.message_from_bytes(saved.read_bytes()), job["mp3_bytes"])
    # The command-line client does the same round trip: log in, upload, wait, download.
    submitted = submit(
        port,
        video,
        {**env, "VID2MP3_PASSWORD": PASSWORD},
        *("--user", "user@example.com", "-o", str(tmp_path / "client.mp3")),
    )
    assert submitted.returncode == 0, submitted.stderr
    assert probe(tmp_path / "client.mp3").audio_streams[0].codec == "mp3"
    # It sent the audio only; the whole video gives an MP3 of the same samples.
    assert "sending the audio only" in submitted.stderr
    whole = submit(
        port,
        video,
        {**env, "VID2MP3_PASSWORD": PASSWORD},
        *("--user", "user@example.com", "-o", str(tmp_path / "whole.mp3"), "--whole-file"),
    )
    assert whole.returncode == 0, whole.stderr
    assert "sending the audio only" not in whole.stderr
    assert decoded_md5(tmp_path / "whole.mp3") == decoded_md5(tmp_path / "client.mp3")
    # A personal access token replaces the password: from the environment, or --token.
    login = requests.post(
        f"http://127.0.0.1:{port}/login", auth=("user@example.com", PASSWORD), timeout=10
    )
    created = requests.post(
        f"http://127.0.0.1:{port}/account/tokens",
        json={"name": "e2e", "scopes": ["read", "upload"]},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    token_env = {**env, "VID2MP3_TOKEN": created.json()["token"]}
    with_token = submit(port, video, token_env, "-o", str(tmp_path / "token.mp3"))
    assert with_token.returncode == 0, with_token.stderr
    assert probe(tmp_path / "token.mp3").audio_streams[0].codec == "mp3"
    refused = submit(port, video, env, "--token", "vid2mp3_pat_" + "x" * 43)
    assert refused.returncode == 1
    assert "401: unknown or revoked personal access token" in refused.stderr
