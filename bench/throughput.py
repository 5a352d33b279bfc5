"""Benchmark pipeline throughput: N short clips through a Dramatiq worker group vs a plain loop.

1. Generates N short clips (lavfi testsrc + sine, H.264/AAC MP4) in a temp dir.
2. Baseline: a plain sequential loop of ``ffmpeg -i IN -vn -c:a libmp3lame -b:a 192k OUT``.
3. Pipeline: stores every clip in the blob store, starts ``vid2mp3 worker``'s command line
   (``python -m dramatiq actors.worker:setup --processes P --threads T``) on RabbitMQ, then
   creates the N job rows and enqueues them with ``enqueue_pipeline`` (as the upload does after
   its commit) and waits until every job is done: convert, verify/store, notify (e-mail into an
   outbox folder). Uploading the clips is not timed; the web's upload is measured elsewhere.

Prints jobs per minute for both and their ratio. By default it runs on a temporary SQLite
database and blob folder; pass ``--database-url`` (migrated here) and ``--storage-url`` to use
MariaDB and GridFS (secantusdb), as in production.

    .venv/bin/python bench/throughput.py [--jobs 50] [--seconds 10] [--processes 2]
        [--broker-url amqp://guest:guest@127.0.0.1:5672]
        [--database-url mysql+pymysql://root@127.0.0.1:3306/DB] [--storage-url mongodb://...]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
# bench/conversion.py would shadow the `conversion` package: this script's folder comes first
# on sys.path. Drop it; the packages come from the installed project.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    """Write `count` distinct clips (different tones) of `seconds` each."""
    clips = []
    for i in range(count):
        path = folder / f"clip-{i:03d}.mp4"
        subprocess.run(
            [
                FFMPEG, "-nostdin", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency={220 + 10 * i}:duration={seconds}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "128k", "-shortest", str(path),
            ],
            check=True,
        )  # fmt: skip
        clips.append(path)
    return clips


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _group_cpu(main_pid: int) -> float:
    """Return the CPU seconds of a dramatiq group: its processes plus their reaped ffmpegs."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1] is the parent pid; 11-14 are utime, stime, cutime, cstime.
        if int(entry.name) == main_pid or int(fields[1]) == main_pid:
            total += sum(int(value) for value in fields[11:15])
    return total / tick


def plain_loop(clips: list[Path], out: Path) -> tuple[float, float]:
    """Convert every clip with raw ffmpeg, one after the other; return (wall, CPU) seconds."""
    out.mkdir(exist_ok=True)
    cpu = _children_cpu()
    started = time.monotonic()
    for clip in clips:
        subprocess.run(
            [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(clip),
             "-vn", "-c:a", "libmp3lame", "-b:a", "192k", str(out / (clip.stem + ".mp3"))],
            check=True,
        )  # fmt: skip
    return time.monotonic() - started, _children_cpu() - cpu


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def pipeline_run(args, clips: list[Path], work: Path) -> tuple[float, float]:
    """Push the clips through the pipeline on a worker group; return (wall, CPU) seconds.

    CPU counts the worker processes and their ffmpegs, not the database, store and broker.
    """
    from actors import enqueue_pipeline
    from actors.broker import setup_broker
    from actors.worker import worker_argv
    from core.accounts import create_user
    from core.db import make_engine, make_sessions, session_scope
    from core.models import Job
    from core.settings import Settings
    from core.storage import open_store

    tag = uuid.uuid4().hex[:8]
    environ = {
        "DATA_DIR": str(work / "var"),
        "DATABASE_URL": args.database_url or f"sqlite:///{work / 'bench.db'}",
        "STORAGE_URL": args.storage_url or f"file://{work / 'blobs'}",
        "BROKER_URL": args.broker_url,
        "SMTP_URL": f"file://{work / 'outbox'}",
        "JWT_SECRET": "bench-" + "x" * 40,
        "VIDEO_QUEUE": f"bench-video-{tag}",
        "MP3_QUEUE": f"bench-mp3-{tag}",
        "METRICS_PORT": str(args.metrics_port),
        "LOG_LEVEL": "INFO",  # the "ready for action" lines tell when the group is up
    }
    settings = Settings.from_env(environ)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    store = open_store(settings.storage_url)
    with session_scope(sessions) as session:
        user = create_user(session, f"bench-{tag}@example.com", "bench password " + tag)
        session.flush()
        user_id = user.id
    job_ids = []
    for clip in clips:
        job_id = uuid.uuid4().hex
        with clip.open("rb") as f:
            store.put("videos", job_id, f, filename=clip.name, metadata={"user_id": user_id})
        job_ids.append((job_id, clip))

    setup_broker(settings)  # this process only enqueues
    log = (work / "worker.log").open("wb")
    worker = subprocess.Popen(
        worker_argv(settings, processes=args.processes, threads=args.threads),
        env={**os.environ, **environ},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(work / "worker.log", args.processes)
        cpu = _group_cpu(worker.pid)
        started = time.monotonic()
        for job_id, clip in job_ids:
            with session_scope(sessions) as session:
                session.add(
                    Job(id=job_id, user_id=user_id, original_filename=clip.name,
                        video_blob_id=job_id, video_size=clip.stat().st_size, options={})
                )  # fmt: skip
            enqueue_pipeline(job_id)
        ids = [job_id for job_id, _ in job_ids]
        while True:
            with sessions() as session:
                states = [s for (s,) in session.query(Job.state).filter(Job.id.in_(ids))]
            finished = [s for s in states if s in ("done", "failed", "cancelled")]
            if len(finished) == len(ids):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        cpu = _group_cpu(worker.pid) - cpu
        failed = [s for s in finished if s != "done"]
        if failed:
            sys.exit(f"{len(failed)} jobs did not finish as done; see {work / 'worker.log'}")
        return elapsed, cpu
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        store.close()
        engine.dispose()
        _delete_queues(settings)


def _delete_queues(settings) -> None:
    """Remove this run's queues (and their delay and dead-letter queues) from RabbitMQ."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(settings.broker_url))
    try:
        channel = connection.channel()
        for name in (settings.video_queue, settings.mp3_queue):
            for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                channel.queue_delete(queue)
    finally:
        connection.close()


def _wait_ready(log: Path, processes: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text(errors="replace").count("ready for action") >= processes:
            return
        time.sleep(0.1)
    sys.exit(f"the worker group did not start; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="worker threads per process")
    parser.add_argument("--broker-url", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite")
    parser.add_argument("--storage-url", default=None, help="default: a temporary folder")
    parser.add_argument("--metrics-port", type=int, default=19100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vid2mp3-bench-") as tmp:
        work = Path(tmp)
        clips = make_clips(work, args.jobs, args.seconds)
        load = os.getloadavg()[0]
        loop, loop_cpu = plain_loop(clips, work / "raw")
        piped, piped_cpu = pipeline_run(args, clips, work)
    loop_rate = args.jobs / loop * 60
    pipe_rate = args.jobs / piped * 60
    n = args.jobs
    print(f"clips: {n} x {args.seconds:g} s; cores: {os.cpu_count()}; load at start {load:.1f}")
    print(
        f"plain ffmpeg loop:      {loop:6.1f} s  {loop_rate:7.1f} jobs/min  "
        f"CPU/job {loop_cpu / n * 1000:5.0f} ms"
    )
    print(
        f"pipeline ({args.processes} proc x {args.threads} thr): {piped:6.1f} s  "
        f"{pipe_rate:7.1f} jobs/min  CPU/job {piped_cpu / n * 1000:5.0f} ms"
    )
    print(f"ratio pipeline / loop: {pipe_rate / loop_rate:.2f} (jobs/min)")


if __name__ == "__main__":
    main()
