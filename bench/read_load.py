"""Benchmark reads at a fixed rate: `GET /jobs` (20 items) and `GET /jobs/{id}` under load.

Starts `vid2mp3 serve --workers 2` on a fresh MariaDB database holding one user with 40 jobs
(a folder blob store and the in-process broker: reads touch neither), then drives each route
with Debian's `hey` at a fixed total rate from the same machine and prints the latency
percentiles, and the web workers' CPU time per answered request (user + system, from /proc):
the latencies are noise while anything else loads the machine, the CPU per request is not.
`hey -q` is a rate per connection, so connections x rate is the total; every connection ticks
at the same moments, so the requests come in bursts of `--connections` at once. The default, 5
connections at 60 requests/s each, spreads 300 requests/s over 60 bursts a second; 30
connections at 10/s (bursts of 30, each taking ~60 ms of both cores to answer) measure how a
burst drains rather than a steady rate.

    .venv/bin/python bench/read_load.py [--rate 300] [--seconds 15] [--connections 5]
        [--mysql mysql+pymysql://root@127.0.0.1:3306]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
VID2MP3 = str(Path(sys.executable).parent / "vid2mp3")
PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account in a throwaway database


def seed(database_url: str, jobs: int) -> str:
    """Migrate, create a user with `jobs` finished jobs; return the user's e-mail."""
    from core.accounts import create_user
    from core.db import make_engine, make_sessions, session_scope
    from core.models import Job
    from vid2mp3.migrate import upgrade_to_head

    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    with session_scope(make_sessions(engine)) as session:
        user = create_user(session, email, PASSWORD)
        session.flush()
        for i in range(jobs):
            session.add(
                Job(
                    user_id=user.id,
                    state="done",
                    progress=100.0,
                    original_filename=f"clip-{i}.mp4",
                    content_type="video/mp4",
                    duration=10.0,
                    media={"duration": 10.0, "format": "mov,mp4,m4a,3gp,3g2,mj2"},
                    options={"bitrate": 192},
                    mp3_size=240_000,
                    mp3_duration=10.0,
                )
            )
    engine.dispose()
    return email


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process `pid` and its descendants so far."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in (proc / "task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return total


def hey(url: str, token: str, rate: int, seconds: int, connections: int) -> dict[str, float]:
    """Run hey at `rate` requests/s in total; return its percentiles (ms) and answers/s."""
    per_connection = max(1, round(rate / connections))
    output = subprocess.run(
        ["hey", "-z", f"{seconds}s", "-c", str(connections), "-q", str(per_connection),
         "-H", f"Authorization: Bearer {token}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = {
        f"p{pct}": float(value) * 1000
        for pct, value in re.findall(r"^\s+(\d+)%+ in ([\d.]+) secs", output, re.M)
    }
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    statuses = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", output))
    result["non200"] = sum(int(n) for code, n in statuses.items() if code != "200")
    result["answered"] = sum(int(n) for n in statuses.values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=5)
    parser.add_argument("--mysql", default="mysql+pymysql://root@127.0.0.1:3306")
    args = parser.parse_args()
    if not shutil.which("hey"):
        sys.exit("bench/read_load.py needs Debian's `hey` (apt-get install hey)")

    database = f"vid2mp3_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(args.mysql)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    work = Path(tempfile.mkdtemp(prefix="vid2mp3-read-load-"))
    server = None
    try:
        database_url = f"{args.mysql}/{database}"
        email = seed(database_url, 40)
        port = free_port()
        env = {
            **os.environ,
            "DATA_DIR": str(work),
            "DATABASE_URL": database_url,
            "STORAGE_URL": f"file://{work / 'blobs'}",
            "BROKER_URL": "stub://",
            "JWT_SECRET": "bench-" + "x" * 40,
            "LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [VID2MP3, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or the workers still booting
                time.sleep(0.2)
        token = requests.post(f"{base}/login", auth=(email, PASSWORD), timeout=10).json()[
            "access_token"
        ]
        job_id = requests.get(
            f"{base}/jobs?limit=1", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()["items"][0]["id"]
        print(f"load: {os.getloadavg()[0]:.2f} (1-min) before the runs, {os.cpu_count()} cores")
        print(f"{'route':<16} {'rate':>5} {'answered/s':>10} {'p50 ms':>7} {'p90 ms':>7}"
              f" {'p99 ms':>7} {'non-200':>7} {'CPU ms/req':>10}")  # fmt: skip
        for route in ("/jobs", f"/jobs/{job_id}"):
            hey(base + route, token, args.rate, 3, args.connections)  # warm-up
            cpu_before = cpu_seconds(server.pid)
            result = hey(base + route, token, args.rate, args.seconds, args.connections)
            cpu = (cpu_seconds(server.pid) - cpu_before) * 1000 / max(1, result["answered"])
            name = "/jobs/{id}" if route != "/jobs" else "/jobs (20)"
            print(
                f"{name:<16} {args.rate:>5} {result['rps']:>10.0f} {result['p50']:>7.1f}"
                f" {result['p90']:>7.1f} {result['p99']:>7.1f} {result['non200']:>7} {cpu:>10.2f}"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
