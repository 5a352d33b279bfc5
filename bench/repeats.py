"""Measure an instant repeat: the same upload again, from the request to a done job.

A fresh embedded service (`vid2mp3 run`: SQLite, local folder store, in-process worker) gets a
clip made here (lavfi testsrc2 + sine, H.264/AAC); the first upload converts, and the time from
its request to `done` is the baseline. Then the same bytes with the same options are uploaded
`--repeats` times: each answer is the 202 with the job already done. Wall time and the
service's CPU time (its process tree, ffmpeg included, from /proc) are printed for both, with
their ratio.

    python bench/repeats.py [--seconds 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from clips import make_clip

BIN = Path(sys.executable).parent
PASSWORD = secrets.token_urlsafe(16)
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(root: int) -> float:
    """Return user+sys CPU of `root` and its descendants, reaped children included."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(value) for value in fields[11:15]) / TICKS
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


def upload(base: str, headers: dict, clip: Path) -> dict:
    with clip.open("rb") as stream:
        answer = requests.post(
            f"{base}/upload",
            files={"file": (clip.name, stream, "video/mp4")},
            data={"bitrate": "192"},
            headers=headers,
            timeout=300,
        )
    answer.raise_for_status()
    return answer.json()


def until_done(base: str, headers: dict, job: dict) -> dict:
    while job["state"] not in ("done", "failed", "cancelled"):
        time.sleep(0.05)
        job = requests.get(f"{base}/jobs/{job['id']}", headers=headers, timeout=30).json()
    assert job["state"] == "done", job
    return job


def timed(pid: int, work) -> tuple[float, float, dict]:
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    job = work()
    return time.perf_counter() - wall, cpu_seconds(pid) - cpu, job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the clip")
    parser.add_argument("--repeats", type=int, default=5, help="how many repeated uploads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-repeats-") as folder:
        clip = make_clip(
            Path(folder) / "clip.mp4", args.seconds, size="640x360", fps=25, video_bitrate="1M"
        )
        size = clip.stat().st_size
        port = free_port()
        env = {
            **os.environ,
            "DATA_DIR": str(Path(folder) / "var"),
            "ADMIN_EMAIL": "bench@example.com",
            "ADMIN_PASSWORD": PASSWORD,
            "LOG_LEVEL": "WARNING",
        }
        for name in ("DATABASE_URL", "STORAGE_URL", "BROKER_URL", "SMTP_URL"):
            env.pop(name, None)
        service = subprocess.Popen(
            [BIN / "vid2mp3", "run", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"{base}/healthz", timeout=5)
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            login = requests.post(f"{base}/login", auth=("bench@example.com", PASSWORD), timeout=30)
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

            wall, cpu, first = timed(
                service.pid, lambda: until_done(base, headers, upload(base, headers, clip))
            )
            repeats = []
            for _ in range(args.repeats):
                repeat = timed(service.pid, lambda: upload(base, headers, clip))
                assert repeat[2]["state"] == "done", repeat[2]
                assert repeat[2]["mp3_size"] == first["mp3_size"]
                repeats.append(repeat)
        finally:
            service.terminate()
            service.wait(timeout=30)
    repeat_wall = statistics.median(r[0] for r in repeats)
    repeat_cpu = statistics.median(r[1] for r in repeats)
    print(f"clip: {args.seconds} s, 640x360 H.264 1 Mbit/s + AAC 128 kbit/s, {size:,} bytes")
    print("| upload | request → done, wall | service CPU (user+sys) |")
    print("|---|---:|---:|")
    print(f"| first (converts) | {wall:.3f} s | {cpu:.2f} s |")
    print(f"| repeat, median of {args.repeats} | {repeat_wall:.3f} s | {repeat_cpu:.2f} s |")
    print(f"| repeat / first | {repeat_wall / wall:.3f} | {repeat_cpu / max(cpu, 1e-9):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
