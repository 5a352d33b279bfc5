"""End-to-end throughput in the production shape, against a two-way ffmpeg loop in the same run.

For each blob store (the folder store, GridFS on secantusdb started here with `--cache-size
256M`) and each clip set (default 50 x 10 s and 20 x 60 s, 640x360 H.264 at 200 kbit/s with
stereo AAC, about 340 KB per 10 s, made with lavfi), one run does:

- **loop**: `ffmpeg -i IN -vn -c:a libmp3lame -b:a 192k OUT` over the clips, two at a time
  (one per core), timed from the first start to the last exit;
- **vid2mp3**: a fresh MariaDB database migrated with `vid2mp3 migrate`, one account made with
  `vid2mp3 users create`, `vid2mp3 serve --workers 1`, `vid2mp3 worker --processes 2` on
  RabbitMQ (private queue names), and an aiosmtpd server in a child process; once both are
  ready, the clips are uploaded over HTTP one after another (POST /upload, multipart) and the
  timer stops when the last e-mail has arrived.

It prints jobs per minute for both, their ratio, and the CPU of every process per job (web,
worker processes, their ffmpegs, MariaDB, RabbitMQ, secantusdb, the SMTP server). MariaDB and
RabbitMQ are shared with whatever else runs on the machine: their share is an upper bound.

`--profile` adds a per-job CPU budget by stage: the same production shape with one worker
process of one thread, whose Dramatiq middleware (added by a wrapper module, so it works with
any checkout) records each actor's thread CPU and its children's (ffmpeg) CPU per message.

`--upload-timing` times uploads of the 10 s clips over HTTP with no worker running, against
`BlobStore.put` of the same bytes from this process, into the same store.

`--checkout DIR` runs another checkout's `vid2mp3` (its `.venv`), e.g. the code before a change.

    .venv/bin/python bench/throughput.py                         # both stores, both clip sets
    .venv/bin/python bench/throughput.py --stores gridfs --sets 10 --profile --upload-timing
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
# bench/conversion.py would shadow the `conversion` package: this script's folder comes first
# on sys.path. Drop it; the packages come from the installed project.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
TICK = os.sysconf("SC_CLK_TCK")
MARIADB = "mysql+pymysql://root@127.0.0.1:3306"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"
PASSWORD = "bench password 1234"  # noqa: S105 - a throwaway account

SMTP_SERVER = """
import sys, time, asyncio
from aiosmtpd.controller import Controller

class Handler:
    async def handle_DATA(self, server, session, envelope):
        sys.stdout.write("%.6f\\n" % time.time())
        sys.stdout.flush()
        return "250 OK"

controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
sys.stdout.write("ready\\n")
sys.stdout.flush()
sys.stdin.read()
controller.stop()
"""

PROBE_MODULE = '''
"""Wrap `actors.worker:setup` with a middleware that records each message's CPU by actor."""
import json, os, resource, time
import dramatiq
from dramatiq.middleware import Middleware


class Probe(Middleware):
    def __init__(self):
        self.out = open(os.environ["BENCH_PROBE_FILE"], "a", buffering=1)

    def before_process_message(self, broker, message):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        message.options["bench_probe"] = (
            time.thread_time(), children.ru_utime + children.ru_stime, time.monotonic()
        )

    def after_process_message(self, broker, message, *, result=None, exception=None):
        started = message.options.pop("bench_probe", None)
        if started is None:
            return
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.out.write(json.dumps({
            "actor": message.actor_name,
            "python": time.thread_time() - started[0],
            "ffmpeg": children.ru_utime + children.ru_stime - started[1],
            "wall": time.monotonic() - started[2],
            "failed": exception is not None,
        }) + "\\n")

    after_skip_message = after_process_message


def setup():
    from actors.worker import setup as base
    base()
    dramatiq.get_broker().add_middleware(Probe())
'''


# -- inputs ------------------------------------------------------------------------------------


def make_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    """Write `count` distinct 640x360 H.264 + AAC clips (different tones) of `seconds` each."""
    folder.mkdir(parents=True, exist_ok=True)

    def make(i: int) -> Path:
        path = folder / f"clip-{int(seconds)}s-{i:03d}.mp4"
        subprocess.run(
            [
                FFMPEG, "-nostdin", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc=size=640x360:rate=25:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency={220 + 10 * i}:duration={seconds}",
                "-c:v", "libx264", "-preset", "veryfast", "-b:v", "200k", "-pix_fmt", "yuv420p",
                "-ac", "2", "-c:a", "aac", "-b:a", "128k", "-shortest", str(path),
            ],
            check=True,
        )  # fmt: skip
        return path

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(make, range(count)))


# -- CPU accounting ----------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu(root: int) -> tuple[float, float]:
    """Return (own, reaped children) CPU seconds of `root` and its live descendants."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
            stats[int(entry.name)] = fields
    members = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in members and pid not in members:
                members.add(pid)
                changed = True
    own = children = 0
    for pid in members & stats.keys():
        fields = stats[pid]
        own += int(fields[11]) + int(fields[12])
        children += int(fields[13]) + int(fields[14])
    return own / TICK, children / TICK


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds of named groups of processes between `start()` and `stop()`."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: sum(sum(tree_cpu(pid)) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.used = {name: after[name] - self.before[name] for name in after}
        return self.used


def worker_split(worker_pid: int) -> tuple[float, float]:
    """Return (Python, ffmpeg) CPU seconds of a dramatiq group: processes, reaped children."""
    return tree_cpu(worker_pid)


# -- the two-way loop --------------------------------------------------------------------------


def two_way_loop(clips: list[Path], out: Path) -> tuple[float, float]:
    """Convert every clip with raw ffmpeg, two at a time; return (wall, CPU) seconds."""
    out.mkdir(parents=True, exist_ok=True)
    cpu = 0.0
    lock = threading.Lock()

    def run(clip: Path) -> None:
        nonlocal cpu
        proc = subprocess.Popen(
            [FFMPEG, "-nostdin", "-loglevel", "error", "-y", "-i", str(clip),
             "-vn", "-c:a", "libmp3lame", "-b:a", "192k", str(out / (clip.stem + ".mp3"))],
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed on {clip}")
        with lock:
            cpu += usage.ru_utime + usage.ru_stime

    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, clips))
    return time.monotonic() - started, cpu


# -- services ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def secantusdb(folder: Path):
    """Run a secantusdb server (MongoDB wire protocol); yield (url, pid)."""
    port = free_port()
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(folder),
         "--standalone", "--cache-size", "256M"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(port)
        yield f"mongodb://127.0.0.1:{port}", proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


class Mailbox:
    """aiosmtpd in a child process; counts the messages it receives and when."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SMTP_SERVER, str(self.port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout.readline().strip() == "ready"
        self.arrivals: list[float] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for _line in self.proc.stdout:
            with self._cond:
                self.arrivals.append(time.monotonic())
                self._cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> float:
        """Wait until `count` messages arrived in total; return the time of the last."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.arrivals) >= count, timeout):
                raise RuntimeError(f"only {len(self.arrivals)} of {count} e-mails arrived")
            return self.arrivals[count - 1]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


# -- one vid2mp3 deployment --------------------------------------------------------------------


class Deployment:
    """A fresh database, queues and blob space, `vid2mp3 serve` and a worker group."""

    def __init__(self, checkout: Path, storage_url: str, mailbox: Mailbox, work: Path) -> None:
        self.bin = checkout / ".venv" / "bin"
        self.tag = uuid.uuid4().hex[:8]
        self.database = f"bench_{self.tag}"
        self.work = work
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATA_DIR": str(work / "var"),
            "DATABASE_URL": f"{MARIADB}/{self.database}",
            "STORAGE_URL": storage_url,
            "BROKER_URL": RABBITMQ,
            "SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
            "JWT_SECRET": secrets.token_urlsafe(48),
            "PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "VIDEO_QUEUE": f"bench-video-{self.tag}",
            "MP3_QUEUE": f"bench-mp3-{self.tag}",
            "METRICS_PORT": str(free_port()),
            "LOG_LEVEL": "INFO",
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.email = f"bench-{self.tag}@example.com"
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def prepare(self) -> None:
        import pymysql

        with contextlib.closing(pymysql.connect(host="127.0.0.1", user="root")) as db:
            db.cursor().execute(f"CREATE DATABASE {self.database}")
        self._run("migrate")
        self._run("users", "create", self.email, "--password-stdin", stdin=PASSWORD + "\n")

    def _run(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [str(self.bin / "vid2mp3"), *args],
            env=self.env, input=stdin, text=True, check=True, capture_output=True,
        )  # fmt: skip

    def start_web(self) -> None:
        log = (self.work / f"web-{self.tag}.log").open("wb")
        self.web = subprocess.Popen(
            [str(self.bin / "vid2mp3"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.request("GET", "/readyz")[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the web app did not get ready; see {log.name}")

    def start_worker(
        self, processes: int = 2, threads: int | None = None, probe: Path | None = None
    ):
        log_path = self.work / f"worker-{self.tag}.log"
        env = dict(self.env)
        if probe is None:
            argv = [str(self.bin / "vid2mp3"), "worker", "--processes", str(processes)]
            if threads:
                argv += ["--threads", str(threads)]
        else:
            module = self.work / "benchprobe.py"
            module.write_text(PROBE_MODULE)
            env["PYTHONPATH"] = f"{self.work}:{env.get('PYTHONPATH', '')}"
            env["BENCH_PROBE_FILE"] = str(probe)
            argv = [str(self.bin / "python"), "-m", "dramatiq", "benchprobe:setup",
                    "--processes", str(processes), "--threads", str(threads or 1)]  # fmt: skip
        with log_path.open("wb") as log:
            self.worker = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log_path.read_text(errors="replace").count("ready for action") >= processes:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the worker group did not start; see {log_path}")

    def request(self, method: str, path: str, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def login(self) -> str:
        basic = base64.b64encode(f"{self.email}:{PASSWORD}".encode()).decode()
        status, body = self.request("POST", "/login", headers={"Authorization": f"Basic {basic}"})
        if status != 200:
            raise RuntimeError(f"login failed: {status} {body[:200]!r}")
        return json.loads(body)["access_token"]

    def upload(self, token: str, clip: Path, data: bytes | None = None) -> str:
        data = clip.read_bytes() if data is None else data
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{clip.name}"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        status, reply = self.request(
            "POST",
            "/upload",
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        if status != 202:
            raise RuntimeError(f"upload failed: {status} {reply[:300]!r}")
        return json.loads(reply)["id"]

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            self.worker.wait(60)

    def close(self) -> None:
        self.stop_worker()
        if self.web is not None and self.web.poll() is None:
            os.killpg(self.web.pid, signal.SIGTERM)
            self.web.wait(60)
        import pika
        import pymysql

        with contextlib.closing(pymysql.connect(host="127.0.0.1", user="root")) as db:
            db.cursor().execute(f"DROP DATABASE IF EXISTS {self.database}")
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
        try:
            channel = connection.channel()
            for name in (self.env["VIDEO_QUEUE"], self.env["MP3_QUEUE"]):
                for queue in (name, f"{name}.DQ", f"{name}.XQ"):
                    channel.queue_delete(queue)
        finally:
            connection.close()


# -- the measurements --------------------------------------------------------------------------


def service_groups(mongo_pid: int | None, mailbox: Mailbox) -> dict[str, list[int]]:
    groups = {
        "MariaDB": pids_named("mariadbd") or pids_named("mysqld"),
        "RabbitMQ": pids_named("beam.smp"),
        "SMTP server": [mailbox.proc.pid],
    }
    if mongo_pid is not None:
        groups["secantusdb"] = [mongo_pid]
    return groups


def pipeline_run(args, clips, storage_url, mongo_pid, mailbox, work) -> dict:
    """Upload every clip over HTTP and wait for the last e-mail; return times and CPU."""
    deployment = Deployment(args.checkout, storage_url, mailbox, work)
    try:
        deployment.prepare()
        deployment.start_web()
        deployment.start_worker(processes=2)
        token = deployment.login()
        meter = CpuMeter({"web": [deployment.web.pid], **service_groups(mongo_pid, mailbox)})
        worker_before = worker_split(deployment.worker.pid)
        bench_before = _self_cpu()
        already = len(mailbox.arrivals)
        meter.start()
        started = time.monotonic()
        for clip in clips:
            deployment.upload(token, clip)
        uploaded = time.monotonic()
        last = mailbox.wait_for(already + len(clips), timeout=600)
        cpu = meter.stop()
        worker_after = worker_split(deployment.worker.pid)
        cpu["bench client"] = _self_cpu() - bench_before
        cpu["worker Python"] = worker_after[0] - worker_before[0]
        cpu["worker ffmpeg"] = worker_after[1] - worker_before[1]
        return {"wall": last - started, "uploads": uploaded - started, "cpu": cpu}
    finally:
        deployment.close()


def _self_cpu() -> float:
    times = os.times()
    return times.user + times.system


def profile_run(args, clips, storage_url, mongo_pid, mailbox, work) -> dict:
    """One worker process, one thread, a probe per message; return the CPU budget per job."""
    deployment = Deployment(args.checkout, storage_url, mailbox, work)
    probe = work / f"probe-{deployment.tag}.jsonl"
    try:
        deployment.prepare()
        deployment.start_web()
        deployment.start_worker(processes=1, threads=1, probe=probe)
        token = deployment.login()
        groups = {"web": [deployment.web.pid], "worker": [deployment.worker.pid]}
        meter = CpuMeter({**groups, **service_groups(mongo_pid, mailbox)})
        already = len(mailbox.arrivals)
        meter.start()
        for clip in clips:
            deployment.upload(token, clip)
        mailbox.wait_for(already + len(clips), timeout=600)
        time.sleep(0.5)  # the last notify's after-hook writes its line
        cpu = meter.stop()
    finally:
        deployment.close()
    rows = [json.loads(line) for line in probe.read_text().splitlines()]
    n = len(clips)
    budget: dict[str, float] = {"web: login + uploads (gunicorn worker)": cpu["web"] / n}
    steps = {}
    for row in rows:
        key = row["actor"]
        steps.setdefault(key, [0.0, 0.0, 0])
        steps[key][0] += row["python"]
        steps[key][1] += row["ffmpeg"]
        steps[key][2] += 1
    actors_python = 0.0
    for actor in ("convert", "store", "notify"):
        python, ffmpeg, count = steps.get(actor, [0.0, 0.0, 0])
        budget[f"{actor}: Python ({count} messages)"] = python / n
        if ffmpeg:
            budget[f"{actor}: ffmpeg"] = ffmpeg / n
        actors_python += python + ffmpeg
    budget["worker: Dramatiq, consumers, heartbeats (rest)"] = (cpu["worker"] - actors_python) / n
    for name in ("MariaDB", "RabbitMQ", "secantusdb", "SMTP server"):
        if name in cpu:
            budget[name] = cpu[name] / n
    return {"budget": budget, "messages": {k: v[2] for k, v in steps.items()}}


def upload_timing(args, clips, storage_url, mailbox, work) -> dict:
    """Median seconds of an HTTP upload (no worker running) and of `store.put`, same bytes."""
    sys.path.insert(0, str(ROOT / "src"))
    from core.storage import open_store

    deployment = Deployment(args.checkout, storage_url, mailbox, work)
    http_times, put_times = [], []
    try:
        deployment.prepare()
        deployment.start_web()
        token = deployment.login()
        sample = clips[: args.upload_samples]
        for clip in sample[:3]:  # warm up connections and caches
            deployment.upload(token, clip)
        for clip in sample:
            data = clip.read_bytes()
            started = time.perf_counter()
            deployment.upload(token, clip, data)
            http_times.append(time.perf_counter() - started)
        store = open_store(storage_url)
        try:
            for i, clip in enumerate(sample):
                data = clip.read_bytes()
                started = time.perf_counter()
                store.put("videos", f"bench{i}{deployment.tag}", _Reader(data), filename=clip.name)
                put_times.append(time.perf_counter() - started)
        finally:
            store.close()
    finally:
        deployment.close()
    return {
        "size": statistics.median(c.stat().st_size for c in clips[: args.upload_samples]),
        "http": statistics.median(http_times),
        "put": statistics.median(put_times),
    }


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._at = 0

    def read(self, n: int) -> bytes:
        chunk = bytes(self._data[self._at : self._at + n])
        self._at += len(chunk)
        return chunk


# -- main --------------------------------------------------------------------------------------


@contextlib.contextmanager
def store_for(kind: str, work: Path):
    if kind == "folder":
        yield (work / f"blobs-{uuid.uuid4().hex[:6]}").as_uri(), None
        return
    with secantusdb(work / f"mongo-{uuid.uuid4().hex[:6]}") as (url, pid):
        yield f"{url}/bench", pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="whose vid2mp3 runs")
    parser.add_argument("--stores", default="folder,gridfs")
    parser.add_argument("--sets", default="10,60", help="clip lengths in seconds")
    parser.add_argument("--short", type=int, default=50, help="clips of 10 s")
    parser.add_argument("--long", type=int, default=20, help="clips of 60 s")
    parser.add_argument("--profile", action="store_true", help="per-job CPU budget by stage")
    parser.add_argument("--profile-jobs", type=int, default=20)
    parser.add_argument("--upload-timing", action="store_true")
    parser.add_argument("--upload-samples", type=int, default=20)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.checkout = args.checkout.resolve()

    results: dict = {"checkout": str(args.checkout), "load_at_start": os.getloadavg()[0]}
    print(f"checkout {args.checkout}; cores {os.cpu_count()}; load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="vid2mp3-bench-") as tmp:
        work = Path(tmp)
        lengths = [int(s) for s in args.sets.split(",") if s]
        clip_sets = {
            seconds: make_clips(
                work / f"clips-{seconds}", args.short if seconds <= 10 else args.long, seconds
            )
            for seconds in lengths
        }
        mailbox = Mailbox()
        try:
            for kind in args.stores.split(","):
                with store_for(kind, work) as (storage_url, mongo_pid):
                    for seconds, clips in clip_sets.items():
                        if args.skip_throughput:
                            break
                        key = f"{kind}, {len(clips)} x {seconds} s"
                        load = os.getloadavg()[0]
                        loop_wall, loop_cpu = two_way_loop(clips, work / "raw")
                        run = pipeline_run(args, clips, storage_url, mongo_pid, mailbox, work)
                        _report(key, len(clips), load, loop_wall, loop_cpu, run)
                        results[key] = {
                            "load": load,
                            "loop_wall": loop_wall,
                            "loop_cpu": loop_cpu,
                            **run,
                        }
                    if args.profile:
                        clips = clip_sets[min(clip_sets)][: args.profile_jobs]
                        prof = profile_run(args, clips, storage_url, mongo_pid, mailbox, work)
                        print(f"\nCPU budget per job, {kind}, {len(clips)} clips (ms):")
                        for name, seconds_ in prof["budget"].items():
                            print(f"  {name:50s} {seconds_ * 1000:7.1f}")
                        print(f"  {'total':50s} {sum(prof['budget'].values()) * 1000:7.1f}")
                        results[f"profile {kind}"] = prof
                    if args.upload_timing:
                        clips = clip_sets[min(clip_sets)]
                        timing = upload_timing(args, clips, storage_url, mailbox, work)
                        print(
                            f"\nupload of {timing['size'] / 1000:.0f} KB into {kind}: HTTP "
                            f"{timing['http'] * 1000:.1f} ms, store.put {timing['put'] * 1000:.1f}"
                            f" ms, ratio {timing['http'] / timing['put']:.2f} (medians)"
                        )
                        results[f"upload {kind}"] = timing
        finally:
            mailbox.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _report(key: str, n: int, load: float, loop_wall: float, loop_cpu: float, run: dict) -> None:
    loop_rate = n / loop_wall * 60
    rate = n / run["wall"] * 60
    print(f"\n{key} (load {load:.1f} at start)")
    print(f"  two-way ffmpeg loop: {loop_wall:6.2f} s  {loop_rate:6.1f} jobs/min  "
          f"CPU/job {loop_cpu / n * 1000:6.1f} ms")  # fmt: skip
    print(f"  vid2mp3:             {run['wall']:6.2f} s  {rate:6.1f} jobs/min  "
          f"(uploads done after {run['uploads']:.2f} s)")  # fmt: skip
    print(f"  ratio vid2mp3 / loop: {rate / loop_rate:.2f}")
    cpu = run["cpu"]
    parts = ", ".join(f"{name} {value / n * 1000:.0f}" for name, value in cpu.items())
    print(f"  CPU ms/job: {parts}")


if __name__ == "__main__":
    main()
