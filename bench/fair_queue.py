"""Benchmark the queue estimates and fair sharing in the embedded shape, in one process.

A fresh SQLite database, the folder store, RabbitMQ (`--broker`, private queue names, deleted
afterwards) and an in-process worker with `--slots` threads (the conversion slots); uploads go
through the web app in-process (Falcon's test client, multipart POST /upload). Clips are lavfi
H.264/AAC 160x90 videos, each upload a copy with bytes of its own (no instant repeats). (The
stub broker is no baseline: a Dramatiq worker takes all of its messages at once and runs them in
no particular order.) Three phases:

1. **warm-up**: `--warmup` clips of mixed lengths, converted, so the speed has a history;
2. **ETA**: a batch of `--batch` clips of mixed lengths (10 s to 2 min) uploaded at once; right
   after the last upload, GET /jobs/{id} gives each job's `estimated_finish_at`; when all are
   done, each estimate is compared with when its MP3 was stored. The error of a job is
   |estimated - actual| / (actual - time of the estimate); the median over the batch is printed
   (goal: ≤ 20 %), with the same for the estimated start;
3. **fairness**: user A uploads `--backlog` 2 s clips, then user B one; printed: how many of
   A's jobs started between B's upload and B's start, and B's wait in seconds, first with fair
   sharing (FAIR_QUEUE on, the default), then with it off (first come, first served) as the
   baseline, both measured in this run.

    .venv/bin/python bench/fair_queue.py [--slots 2] [--warmup 12] [--batch 30] [--backlog 200]
        [--broker amqp://guest:guest@127.0.0.1:5672]

Wall-clock figures: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import imageio_ffmpeg

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account in a throwaway database
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
LENGTHS = (10, 30, 60, 120)


def make_clip(folder: Path, seconds: int) -> Path:
    """Return a `seconds` long H.264/AAC MP4 made with lavfi (cached in `folder`)."""
    path = folder / f"clip-{seconds}s.mp4"
    if not path.exists():
        subprocess.run(
            [
                FFMPEG, "-nostdin", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc=size=160x90:rate=15:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path),
            ],
            check=True,
        )  # fmt: skip
    return path


def copies(clip: Path, count: int, start: int = 0) -> list[Path]:
    """Return `count` stream copies of `clip`, each with bytes of its own (a comment tag).

    The same bytes uploaded again by the same user would be an instant repeat, done at once
    without a conversion, so every upload here is a copy of its own.
    """
    paths = []
    for number in range(start, start + count):
        path = clip.with_name(f"{clip.stem}-{number}{clip.suffix}")
        if not path.exists():
            subprocess.run(
                [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy",
                 "-metadata", f"comment=copy {number}", str(path)],
                check=True,
            )  # fmt: skip
        paths.append(path)
    return paths


class Service:
    """The embedded service on a fresh database: worker threads and the app's test client."""

    def __init__(self, root: Path, slots: int, fair: bool, broker: str) -> None:
        import falcon.testing

        from actors.embedded import start_embedded_worker
        from core.db import make_engine, make_sessions
        from core.settings import Settings
        from vid2mp3.migrate import upgrade_to_head
        from vid2mp3.wiring import build_web_app

        data = root / uuid.uuid4().hex[:8]
        data.mkdir(parents=True)
        environ = {
            "DATA_DIR": str(data),
            "JWT_SECRET": "bench-secret-" + "x" * 40,
            "FAIR_QUEUE": "true" if fair else "false",
            "BROKER_URL": broker,
            "VIDEO_QUEUE": f"bench-video-{data.name}",
            "MP3_QUEUE": f"bench-mp3-{data.name}",
            "LOG_LEVEL": "WARNING",
        }
        self.settings = Settings.from_env(environ)
        upgrade_to_head(self.settings.database_url)
        self.engine = make_engine(self.settings.database_url)
        self.sessions = make_sessions(self.engine)
        self.worker = start_embedded_worker(
            self.settings, threads=slots, work_root=data / "work", resume=False
        )
        self.client = falcon.testing.TestClient(
            build_web_app(self.settings, broker=self.worker.broker)
        )

    def login(self, email: str) -> dict:
        from core.accounts import create_user
        from core.db import session_scope

        with session_scope(self.sessions) as session:
            create_user(session, email, PASSWORD)
        answer = self.client.simulate_post("/login", json={"email": email, "password": PASSWORD})
        return {"Authorization": f"Bearer {answer.json['access_token']}"}

    def upload(self, auth: dict, clip: Path) -> str:
        boundary = "bench" + uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{clip.name}"\r\n\r\n'
            ).encode()
            + clip.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        answer = self.client.simulate_post("/upload", body=body, headers=headers)
        assert answer.status_code == 202, answer.text
        return answer.json["id"]

    def job(self, auth: dict, job_id: str) -> dict:
        return self.client.simulate_get(f"/jobs/{job_id}", headers=auth).json

    def rows(self, ids: list[str]) -> dict:
        from core.models import Job

        with self.sessions() as session:
            rows = {job.id: job for job in session.query(Job).filter(Job.id.in_(ids))}
            for job in rows.values():
                session.expunge(job)
            return rows

    def wait_done(self, ids: list[str], timeout: float = 3600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows(ids)
            if all(job.state in ("done", "failed") for job in rows.values()):
                failed = [job.reason for job in rows.values() if job.state == "failed"]
                assert not failed, failed
                return rows
            time.sleep(0.25)
        raise TimeoutError("jobs still running")

    def close(self) -> None:
        self.worker.stop()
        self.engine.dispose()
        if self.settings.broker_url.startswith("amqp"):
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(self.settings.broker_url))
            channel = connection.channel()
            for name in (self.settings.video_queue, self.settings.mp3_queue):
                for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                    channel.queue_delete(queue)
            connection.close()


def moment(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def eta_errors(
    service: Service, clips: list[Path], batch: int, verbose: bool = False
) -> tuple[float, float]:
    """Return the median relative error of the estimated finish and start over a batch."""
    from core.models import utcnow

    auth = service.login("eta@example.com")
    uploads = [copies(clips[i % len(clips)], 1, start=1000 + i)[0] for i in range(batch)]
    ids = [service.upload(auth, path) for path in uploads]
    asked = utcnow()
    estimates = {job_id: service.job(auth, job_id) for job_id in ids}
    rows = service.wait_done(ids)
    finish_errors, start_errors = [], []
    for job_id, estimate in estimates.items():
        row = rows[job_id]
        if estimate["estimated_finish_at"]:
            actual = (row.stored_at - asked).total_seconds()
            guess = (moment(estimate["estimated_finish_at"]) - asked).total_seconds()
            finish_errors.append(abs(guess - actual) / actual)
        if estimate["estimated_start_at"] and row.started_at > asked:
            actual = (row.started_at - asked).total_seconds()
            guess = (moment(estimate["estimated_start_at"]) - asked).total_seconds()
            start_errors.append(abs(guess - actual) / actual)
    print(f"  {len(finish_errors)} of {batch} jobs had an estimate when asked")
    if verbose:
        for job_id, estimate in estimates.items():
            row = rows[job_id]
            print(
                f"  {row.duration:5.1f} s  pos {estimate['queue_position']}  "
                f"est start {estimate['estimated_start_at']}  actual {row.started_at}  "
                f"est finish {estimate['estimated_finish_at']}  actual {row.stored_at}"
            )
    return statistics.median(finish_errors), statistics.median(start_errors)


def single_job_wait(service: Service, clip: Path, backlog: int) -> tuple[int, float]:
    """Return how many of A's jobs started between B's upload and B's start, and B's wait."""
    alice = service.login("alice@example.com")
    bob = service.login("bob@example.com")
    ids = [service.upload(alice, path) for path in copies(clip, backlog)]
    single = service.upload(bob, clip)
    rows = service.wait_done([*ids, single])
    row = rows.pop(single)
    ahead = [
        job
        for job in rows.values()
        if job.started_at and row.created_at <= job.started_at <= row.started_at
    ]
    return len(ahead), (row.started_at - row.created_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=12)
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--verbose", action="store_true", help="print each job's estimates")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vid2mp3-fair-") as tmp:
        root = Path(tmp)
        clips = [make_clip(root, seconds) for seconds in LENGTHS]
        short = make_clip(root, 2)

        service = Service(root, args.slots, fair=True, broker=args.broker)
        try:
            warm = service.login("warm@example.com")
            # As a batch, so the speed is measured with every slot busy, as in the batch.
            warmup = [copies(clips[i % len(clips)], 1, start=i)[0] for i in range(args.warmup)]
            service.wait_done([service.upload(warm, path) for path in warmup])
            finish, start = eta_errors(service, clips, args.batch, args.verbose)
            print(f"ETA over {args.batch} jobs on {args.slots} slots: median error of the")
            print(f"  estimated finish {finish:.1%}, estimated start {start:.1%} (goal: ≤ 20 %)")
            fair = single_job_wait(service, short, args.backlog)
        finally:
            service.close()

        service = Service(root, args.slots, fair=False, broker=args.broker)
        try:
            fifo = single_job_wait(service, short, args.backlog)
        finally:
            service.close()
    print(f"One job of user B behind {args.backlog} of user A, {args.slots} slots:")
    for name, (jobs, wait) in (("fair sharing", fair), ("first come, first served", fifo)):
        print(f"  {name:25} {jobs:4d} of A's jobs started first; B waited {wait:7.1f} s")
    print(f"  B's wait, fair / first come: {fair[1] / fifo[1]:.3f}")


if __name__ == "__main__":
    main()
