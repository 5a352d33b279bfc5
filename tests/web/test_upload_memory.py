"""Memory is bounded by design: ten concurrent 45 MB uploads into GridFS keep a gunicorn worker
under 256 MiB (issue #10 item 6). Measured by the kernel (the worker's VmHWM), not the clock."""

from __future__ import annotations

import http.client
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pymongo

from faultproxy import login

MIB = 1 << 20
UPLOADS = 10
UPLOAD_BYTES = 45 * 1000 * 1000
# An ISO-BMFF 'ftyp' box, so the upload's container sniffing accepts the file, then filler.
HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
BLOCK = os.urandom(MIB)
BOUNDARY = "memoryboundary"


def _body(size: int):
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + HEADER
    left = size - len(HEADER)
    while left > 0:
        yield BLOCK[: min(MIB, left)]
        left -= MIB
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _upload(base_url: str, auth: dict[str, str]) -> int:
    """Stream one multipart upload of UPLOAD_BYTES with a Content-Length; return the status."""
    length = sum(len(piece) for piece in _body(UPLOAD_BYTES))
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    try:
        connection.request(
            "POST",
            "/upload",
            body=_body(UPLOAD_BYTES),
            headers={
                **auth,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(length),
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _gunicorn_worker(port: int) -> int:
    """Return the pid of the one worker of the `vid2mp3 serve` this test started on `port`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"serve" in args and str(port).encode() in args:
            (worker,) = (proc / "task" / proc.name / "children").read_text().split()
            return int(worker)
    raise AssertionError(f"no vid2mp3 serve on port {port} among this test's children")


def _reset_peak_rss(pid: int) -> None:
    """Start the kernel's peak-RSS count afresh (clear_refs 5), e.g. after a login's hashing."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def test_ten_concurrent_uploads_keep_a_worker_under_256_mib(start_web, mongo_uri, make_user):
    storage_url = f"{mongo_uri}/memory_{uuid.uuid4().hex[:10]}"
    web = start_web(workers=1, STORAGE_URL=storage_url)
    worker = _gunicorn_worker(urlsplit(web).port)
    auth = login(web, make_user())
    # The login's argon2id hash takes 64 MiB for a moment; what counts is what uploads add.
    _reset_peak_rss(worker)
    idle = _peak_rss_mib(worker)
    try:
        with ThreadPoolExecutor(UPLOADS) as pool:
            statuses = list(pool.map(lambda _: _upload(web, auth), range(UPLOADS)))
        peak = _peak_rss_mib(worker)
    finally:
        with pymongo.MongoClient(storage_url) as client:
            client.drop_database(client.get_default_database())
    assert statuses == [202] * UPLOADS
    # pymongo's GridIn held up to 48 MB per upload (the worker peaked near 880 MiB); chunks now
    # go out about a megabyte at a time. Eight uploads run at once (one per gunicorn thread),
    # each holding its read buffer, a batch and its encoding: about 8 MiB each was measured.
    assert peak <= 256, f"worker peaked at {peak:.0f} MiB (idle {idle:.0f} MiB)"
    assert peak - idle <= 96, f"uploads added {peak - idle:.0f} MiB (idle {idle:.0f} MiB)"
