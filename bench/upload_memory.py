"""Measure the web worker's peak memory and speed for big uploads into GridFS.

For each size (default 100 MiB and 1 GiB) a fresh `vid2mp3 serve` (one gunicorn worker) takes a
streamed multipart upload (or, with `--tus`, a resumable upload: POST /files then one PATCH);
the worker's peak RSS (VmHWM, counted afresh after the login, whose argon2id hash takes 64 MiB
for a moment) is read after the upload. The 1 GiB upload's time is compared with writing the
same bytes straight through the blob store's API in the same run.
Then a fresh `vid2mp3 serve --workers 2` takes `--concurrent` uploads of `--concurrent-mb` MB at
once (default 10 of 45 MB) and the peak RSS of each worker is reported.
Backing services: a secantusdb server started here, SQLite, the stub broker.

    python bench/upload_memory.py [--sizes-mib 100 1024] [--tus]
                                  [--concurrent 10 --concurrent-mb 45]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MIB = 1 << 20
BIN = Path(sys.executable).parent
# A payload that passes the upload's container sniffing (an ISO-BMFF 'ftyp' box), then filler.
HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
BLOCK = os.urandom(MIB)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} never opened")


def payload(size: int):
    yield HEADER
    sent = len(HEADER)
    while sent < size:
        chunk = BLOCK[: min(MIB, size - sent)]
        sent += len(chunk)
        yield chunk


class Reader:
    """A file-like view of `payload` for the direct store write (short reads, no copying)."""

    def __init__(self, size: int) -> None:
        self._chunks = payload(size)
        self._rest = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        if not self._rest:
            self._rest = memoryview(next(self._chunks, b""))
        out, self._rest = self._rest[:n], self._rest[n:]
        return bytes(out)


def worker_pids(master: int, count: int = 1) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if len(children) >= count:
            return [int(child) for child in children]
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn started fewer than {count} workers")


def reset_peak(pid: int) -> None:
    """Start the kernel's peak-RSS count afresh: the login's argon2id hash takes 64 MiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def upload(port: int, token: str, size: int) -> float:
    boundary = "benchboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        yield from payload(size)
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/upload",
        body=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        },
    )
    response = connection.getresponse()
    elapsed = time.perf_counter() - started
    text = response.read()
    if response.status != 202:
        raise RuntimeError(f"upload failed: {response.status} {text[:300]!r}")
    return elapsed, json.loads(text)["id"]


def tus_upload(port: int, token: str, size: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    started = time.perf_counter()
    connection.request("POST", "/files", headers={**auth, "Upload-Length": str(size)})
    created = connection.getresponse()
    created.read()
    location = created.getheader("Location")
    connection.request(
        "PATCH",
        location,
        body=payload(size),
        headers={
            **auth,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(size),
        },
    )
    response = connection.getresponse()
    elapsed = time.perf_counter() - started
    text = response.read()
    if response.status != 204:
        raise RuntimeError(f"tus upload failed: {response.status} {text[:300]!r}")
    return elapsed, location.rsplit("/", 1)[1]


def login(port: int, email: str, password: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    credentials = base64.b64encode(f"{email}:{password}".encode()).decode()
    connection.request("POST", "/login", headers={"Authorization": f"Basic {credentials}"})
    return json.loads(connection.getresponse().read())["access_token"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[100, 1024])
    parser.add_argument("--concurrent", type=int, default=10, help="uploads at once (0: skip)")
    parser.add_argument("--concurrent-mb", type=int, default=45, help="size of each, MB")
    parser.add_argument("--tus", action="store_true", help="upload over tus (POST /files, PATCH)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vid2mp3-bench-"))
    mongo_port = free_port()
    mongo = subprocess.Popen(
        [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(mongo_port)]
        + ["--storage-path", str(work / "mongo"), "--standalone", "--cache-size", "256M"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "DATA_DIR": str(work / "var"),
        "DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
        # A loaded machine can take more than the default 10 s to delete a 1 GiB file.
        "STORAGE_URL": f"mongodb://127.0.0.1:{mongo_port}/bench?socketTimeoutMS=120000",
        "BROKER_URL": "stub://",
        "JWT_SECRET": "bench-secret-" + "b" * 40,
        "MAX_UPLOAD_BYTES": str(8 << 30),
        "USER_QUOTA_BYTES": str(64 << 30),
        "LOG_LEVEL": "WARNING",
    }
    email, password = "bench@example.com", "bench-password"
    try:
        wait_for(mongo_port)
        subprocess.run([BIN / "vid2mp3", "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [BIN / "vid2mp3", "users", "create", email, "--password-stdin"],
            input=password + "\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        largest = max(args.sizes_mib) * MIB
        # Direct writes before and after the uploads, each into the same (emptied) database
        # state, so the ratio is not skewed by the store growing during the run.
        direct = [direct_write(env["STORAGE_URL"], largest)]
        rows = []
        for size_mib in args.sizes_mib:
            port = free_port()
            server = subprocess.Popen(
                [BIN / "vid2mp3", "serve", "--host", "127.0.0.1", "--port", str(port)]
                + ["--workers", "1"],
                env=env,
            )
            try:
                wait_for(port)
                (pid,) = worker_pids(server.pid)
                token = login(port, email, password)
                reset_peak(pid)
                baseline_rss = vm_hwm_mib(pid)
                send = tus_upload if args.tus else upload
                seconds, job_id = send(port, token, size_mib * MIB)
                rows.append((size_mib, seconds, baseline_rss, vm_hwm_mib(pid)))
                delete_blob(env["STORAGE_URL"], job_id)
            finally:
                server.terminate()
                server.wait(30)
        direct.append(direct_write(env["STORAGE_URL"], largest))
        if args.concurrent:
            concurrent = concurrent_peaks(env, email, password, args.concurrent, args.concurrent_mb)
    finally:
        mongo.terminate()
        mongo.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'upload':>8} {'seconds':>8} {'MiB/s':>7} {'RSS idle':>9} {'RSS peak':>9}")
    for size_mib, seconds, idle, peak in rows:
        print(
            f"{size_mib:>5}MiB {seconds:8.2f} {size_mib / seconds:7.1f} {idle:8.0f}M {peak:8.0f}M"
        )
    last_mib, last_seconds = max(rows)[0], max(rows)[1]
    mean_direct = sum(direct) / len(direct)
    shown = ", ".join(f"{seconds:.2f}" for seconds in direct)
    print(f"direct store.put of {last_mib} MiB: {shown} s ({last_mib / mean_direct:.1f} MiB/s)")
    print(f"HTTP upload / direct write: {last_seconds / mean_direct:.2f}x")
    peaks = [row[3] for row in rows]
    print(f"peak RSS largest/smallest upload: {max(peaks) / min(peaks):.2f}x")
    if args.concurrent:
        seconds, idle, peaks = concurrent
        print(
            f"{args.concurrent} concurrent uploads of {args.concurrent_mb} MB, 2 workers,"
            f" {seconds:.1f} s: RSS idle "
            + ", ".join(f"{mib:.0f}M" for mib in idle)
            + "; peak "
            + ", ".join(f"{mib:.0f}M" for mib in peaks)
        )
    return 0


def concurrent_peaks(env, email, password, count, size_mb):
    """Run `count` uploads of `size_mb` MB at once against two gunicorn workers.

    Return (seconds, idle RSS of each worker, peak RSS of each worker) in MiB.
    """
    port = free_port()
    server = subprocess.Popen(
        [BIN / "vid2mp3", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
    )
    try:
        wait_for(port)
        pids = worker_pids(server.pid, 2)
        token = login(port, email, password)
        for pid in pids:
            reset_peak(pid)
        idle = [vm_hwm_mib(pid) for pid in pids]
        started = time.perf_counter()
        with ThreadPoolExecutor(count) as pool:
            jobs = list(
                pool.map(lambda _: upload(port, token, size_mb * 1000 * 1000)[1], range(count))
            )
        seconds = time.perf_counter() - started
        peaks = [vm_hwm_mib(pid) for pid in pids]
        for job_id in jobs:
            delete_blob(env["STORAGE_URL"], job_id)
        return seconds, idle, peaks
    finally:
        server.terminate()
        server.wait(30)


def delete_blob(storage_url: str, blob_id: str) -> None:
    from core.storage import open_store

    with open_store(storage_url) as store:
        store.delete("videos", blob_id)


def direct_write(storage_url: str, size: int) -> float:
    from core.storage import open_store

    store = open_store(storage_url)
    try:
        started = time.perf_counter()
        store.put("videos", "directbench", Reader(size), filename="direct.mp4")
        return time.perf_counter() - started
    finally:
        store.delete("videos", "directbench")
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
